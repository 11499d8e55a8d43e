//! Before the press: is the team open, is anyone there, how long is the wait. One queue per
//! deployment (the one chats are routed to, [`AvailabilitySettings`]), with its opening hours
//! ([`schedule`]) and TaskRouter's statistics ([`stats`]).
//!
//! Two items per queue in the channels table:
//!
//! - `schedule#<queue>`: the opening hours, written by `flex-schedule` (README, "Opening
//!   hours"), read by every function that answers availability or opens chats;
//! - `availability#<queue>`: the last statistics read from Twilio (`stats`, `fetchedAt`), and
//!   the refresh lock (`lockUntil`, `lockId`).
//!
//! Twilio asks backends to cache statistics. However many customers poll, a queue's statistics
//! are read from Twilio at most once per refresh interval over all instances: a caller that
//! finds them older than that takes the lock with one conditional write (which also fails when
//! another refreshed since), reads Twilio and stores the result; every other caller answers the
//! stored value as it is, saying how old it is (`asOf`). Each warm instance also reuses what it
//! read from the table for a few seconds, so polling costs few DynamoDB reads as well.
//! A refresh that fails holds the lock for a whole interval, so Twilio being down costs one call
//! per interval, not one per caller.

pub mod acceptance;
pub mod cli;
pub mod schedule;
pub mod stats;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

pub use crate::config::AvailabilitySettings;
use crate::store::{KEY, StoreError, conditional, get_n, get_s, store_error};
use crate::twilio::{TwilioClient, TwilioError};
use acceptance::AcceptanceLog;
pub use schedule::{ClosedReason, Hours, Schedule, ScheduleDocument, ScheduleError};
pub use stats::{QueueStats, WaitRange, WaitSource};

/// A refresh lock outlives a refresh (two Twilio reads inside the Twilio deadline).
const LOCK_LEASE_MS: i64 = 10_000;
/// How long a caller with nothing cached waits for another's first refresh.
const FIRST_REFRESH_WAIT: Duration = Duration::from_millis(1_500);
const FIRST_REFRESH_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum AvailabilityError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Twilio(#[from] TwilioError),
    /// The stored schedule does not parse: written around `flex-schedule`.
    #[error("the opening hours stored under {key} are invalid ({0}); rewrite them with flex-schedule", key = .1)]
    Schedule(ScheduleError, String),
}

/// What the customer's page is told.
#[derive(Clone, Debug, PartialEq)]
pub struct AvailabilityView {
    pub open: bool,
    pub closed_reason: Option<ClosedReason>,
    /// The manual switch's message, while it is on.
    pub message: Option<String>,
    /// Epoch seconds.
    pub next_open_at: Option<i64>,
    /// The schedule's zone, to show `nextOpenAt` as the team's local time.
    pub time_zone: String,
    /// Statistics: `None` while closed, without a queue configured, or before the first read.
    pub agents_available: Option<u64>,
    pub queue_length: Option<u64>,
    pub wait_estimate_seconds: Option<WaitRange>,
    /// When the statistics were read from Twilio (epoch ms).
    pub as_of_ms: Option<i64>,
}

/// The statistics as stored, and when they were read.
#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    stats: QueueStats,
    fetched_at_ms: i64,
}

/// What this instance read from the table, and when.
#[derive(Default)]
struct InstanceCache {
    schedule: Option<(i64, Arc<Schedule>)>,
    stats: Option<(i64, Option<Snapshot>)>,
}

/// Built once per cold start by create-channel and chat-graphql.
pub struct Availability {
    dynamodb: Client,
    table: String,
    settings: AvailabilitySettings,
    /// Twilio and its TaskRouter host, where the statistics are read.
    twilio: TwilioClient,
    taskrouter: String,
    /// Our own waits, where TaskRouter's are thin.
    acceptances: AcceptanceLog,
    cache: Mutex<InstanceCache>,
    /// Counts this instance's statistics refreshes (the tests' measure of single flight).
    refreshes: std::sync::atomic::AtomicU64,
}

impl Availability {
    pub fn new(
        dynamodb: Client,
        table: &str,
        settings: AvailabilitySettings,
        twilio: TwilioClient,
        taskrouter: &str,
    ) -> Self {
        Self {
            acceptances: AcceptanceLog::new(dynamodb.clone(), table, settings.queue_name()),
            dynamodb,
            table: table.to_owned(),
            settings,
            twilio,
            taskrouter: taskrouter.to_owned(),
            cache: Mutex::new(InstanceCache::default()),
            refreshes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn queue_name(&self) -> &str {
        self.settings.queue_name()
    }

    /// The queue's opening hours: the stored schedule, or open around the clock without one.
    pub async fn schedule(&self, now_ms: i64) -> Result<Arc<Schedule>, AvailabilityError> {
        if let Some((read_at, schedule)) = &self.cache().schedule
            && self.fresh_in_instance(*read_at, now_ms)
        {
            return Ok(Arc::clone(schedule));
        }
        let key = schedule_key(self.queue_name());
        let item = self.get(&key).await?;
        let schedule = match item.as_ref().and_then(|item| get_s(item, SCHEDULE)) {
            None => Schedule::always_open(),
            Some(json) => {
                Schedule::parse(&json).map_err(|error| AvailabilityError::Schedule(error, key))?
            }
        };
        let schedule = Arc::new(schedule);
        self.cache().schedule = Some((now_ms, Arc::clone(&schedule)));
        Ok(schedule)
    }

    /// Everything the customer's page shows before the press.
    pub async fn current(&self, now_ms: i64) -> Result<AvailabilityView, AvailabilityError> {
        let schedule = self.schedule(now_ms).await?;
        let mut view = AvailabilityView {
            open: true,
            closed_reason: None,
            message: None,
            next_open_at: None,
            time_zone: schedule.time_zone().to_owned(),
            agents_available: None,
            queue_length: None,
            wait_estimate_seconds: None,
            as_of_ms: None,
        };
        if let Hours::Closed {
            reason,
            next_open_at,
            message,
        } = schedule.hours(now_ms.div_euclid(1000))
        {
            // Nobody is expected to be there: no statistics are read at night.
            view.open = false;
            view.closed_reason = Some(reason);
            view.next_open_at = next_open_at;
            view.message = message;
            return Ok(view);
        }
        if let Some(snapshot) = self.statistics(now_ms).await? {
            view.agents_available = Some(snapshot.stats.available_workers);
            view.queue_length = Some(snapshot.stats.waiting_tasks);
            view.wait_estimate_seconds = stats::wait_estimate(&snapshot.stats);
            view.as_of_ms = Some(snapshot.fetched_at_ms);
        }
        Ok(view)
    }

    /// How many refreshes this instance made (each one or two Twilio reads).
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The queue's statistics: this instance's, the table's, or fresh from Twilio, in that order.
    async fn statistics(&self, now_ms: i64) -> Result<Option<Snapshot>, AvailabilityError> {
        let Some(queue) = self.settings.queue.as_ref() else {
            return Ok(None);
        };
        if let Some((read_at, snapshot)) = &self.cache().stats
            && self.fresh_in_instance(*read_at, now_ms)
        {
            return Ok(snapshot.clone());
        }
        let key = stats_key(self.queue_name());
        let stored = self.get(&key).await?.as_ref().and_then(snapshot_in);
        let refresh_ms = i64::from(self.settings.refresh_seconds) * 1000;
        let fresh = stored
            .as_ref()
            .is_some_and(|snapshot| now_ms - snapshot.fetched_at_ms < refresh_ms);
        let answer = if fresh {
            stored
        } else if let Some(lock_id) = self.lock(&key, now_ms, refresh_ms).await? {
            match self
                .refresh(queue, &key, &lock_id, stored.as_ref(), refresh_ms, now_ms)
                .await
            {
                Ok(snapshot) => Some(snapshot),
                // The last statistics, old as they are (asOf says how old), rather than none.
                Err(error) if stored.is_some() => {
                    tracing::warn!(%error, "statistics refresh failed; answering the stored ones");
                    stored
                }
                Err(error) => return Err(error),
            }
        } else if stored.is_some() {
            // Another caller is refreshing: its predecessor's value is the answer meanwhile.
            stored
        } else {
            self.await_first_refresh(&key).await?
        };
        self.cache().stats = Some((now_ms, answer.clone()));
        Ok(answer)
    }

    /// The one caller that refreshes: reads Twilio, stores the result and frees the lock. On
    /// failure the lock is kept for the interval, so the next attempt waits that long.
    async fn refresh(
        &self,
        queue: &crate::config::availability::TaskQueue,
        key: &str,
        lock_id: &str,
        stored: Option<&Snapshot>,
        refresh_ms: i64,
        now_ms: i64,
    ) -> Result<Snapshot, AvailabilityError> {
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut read = stats::read(
            &self.twilio,
            &self.taskrouter,
            queue,
            stored.map(|snapshot| &snapshot.stats),
            refresh_ms,
            now_ms,
        )
        .await?;
        let cumulative_just_read = read.cumulative_at_ms == now_ms;
        if cumulative_just_read && read.accepted_recently < stats::MIN_ACCEPTED_SAMPLES {
            match self.acceptances.recent(now_ms.div_euclid(1000)).await {
                Ok(ours) => read.fill_thin_waits(ours),
                // Twilio's figures, thin as they are: the estimate is hidden, nothing fails.
                Err(error) => tracing::warn!(%error, "our recent waits are unreadable"),
            }
        }
        let snapshot = Snapshot {
            stats: read,
            fetched_at_ms: now_ms,
        };
        let json = serde_json::to_string(&snapshot.stats).expect("statistics serialize");
        let stored = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .update_expression("SET #stats = :stats, #fetched = :now REMOVE #lock, #lockId")
            .condition_expression("#lockId = :id")
            .expression_attribute_names("#stats", STATS)
            .expression_attribute_names("#fetched", FETCHED_AT)
            .expression_attribute_names("#lock", LOCK_UNTIL)
            .expression_attribute_names("#lockId", LOCK_ID)
            .expression_attribute_values(":stats", AttributeValue::S(json))
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":id", AttributeValue::S(lock_id.to_owned()))
            .send()
            .await;
        // Not written: our lease ran out and another caller refreshed; ours is answered, theirs
        // kept.
        conditional("UpdateItem", stored)?;
        tracing::info!(
            queue = self.queue_name(),
            available = snapshot.stats.available_workers,
            waiting = snapshot.stats.waiting_tasks,
            waits_from = ?snapshot.stats.wait_source,
            "queue statistics refreshed"
        );
        Ok(snapshot)
    }

    /// Takes the refresh lock when the statistics are stale and nobody holds it; the lock's id.
    async fn lock(
        &self,
        key: &str,
        now_ms: i64,
        refresh_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let lock_id = uuid::Uuid::new_v4().to_string();
        // A failed refresh leaves the lock on: the lease covers the interval as well.
        let lease = LOCK_LEASE_MS.max(refresh_ms);
        let taken = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .update_expression("SET #lock = :until, #lockId = :id")
            .condition_expression(
                "(attribute_not_exists(#lock) OR #lock < :now) AND (attribute_not_exists(#fetched) OR #fetched <= :stale)",
            )
            .expression_attribute_names("#lock", LOCK_UNTIL)
            .expression_attribute_names("#lockId", LOCK_ID)
            .expression_attribute_names("#fetched", FETCHED_AT)
            .expression_attribute_values(":until", AttributeValue::N((now_ms + lease).to_string()))
            .expression_attribute_values(":id", AttributeValue::S(lock_id.clone()))
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":stale", AttributeValue::N((now_ms - refresh_ms).to_string()))
            .send()
            .await;
        Ok(conditional("UpdateItem", taken)?.then_some(lock_id))
    }

    /// Nothing stored yet and another caller is making the first read: waits briefly for it.
    async fn await_first_refresh(&self, key: &str) -> Result<Option<Snapshot>, StoreError> {
        let started = std::time::Instant::now();
        while started.elapsed() < FIRST_REFRESH_WAIT {
            tokio::time::sleep(FIRST_REFRESH_POLL).await;
            if let Some(snapshot) = self.get(key).await?.as_ref().and_then(snapshot_in) {
                return Ok(Some(snapshot));
            }
        }
        Ok(None)
    }

    async fn get(&self, key: &str) -> Result<Option<Item>, StoreError> {
        get_item(&self.dynamodb, &self.table, key, false).await
    }

    fn fresh_in_instance(&self, read_at_ms: i64, now_ms: i64) -> bool {
        let ttl = i64::from(self.settings.instance_cache_seconds) * 1000;
        (0..ttl).contains(&(now_ms - read_at_ms))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, InstanceCache> {
        // The cache holds plain values: a panic elsewhere cannot leave it half-written.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

const SCHEDULE: &str = "schedule";
const STATS: &str = "stats";
const FETCHED_AT: &str = "fetchedAt";
const LOCK_UNTIL: &str = "lockUntil";
const LOCK_ID: &str = "lockId";

pub fn schedule_key(queue: &str) -> String {
    format!("schedule#{queue}")
}

fn stats_key(queue: &str) -> String {
    format!("availability#{queue}")
}

type Item = HashMap<String, AttributeValue>;

async fn get_item(
    dynamodb: &Client,
    table: &str,
    key: &str,
    consistent: bool,
) -> Result<Option<Item>, StoreError> {
    let answer = dynamodb
        .get_item()
        .table_name(table)
        .key(KEY, AttributeValue::S(key.to_owned()))
        .consistent_read(consistent)
        .send()
        .await
        .map_err(|error| store_error("GetItem", error))?;
    Ok(answer.item)
}

fn snapshot_in(item: &HashMap<String, AttributeValue>) -> Option<Snapshot> {
    let stats = serde_json::from_str(&get_s(item, STATS)?).ok()?;
    let fetched_at_ms = get_n(item, FETCHED_AT)?;
    Some(Snapshot {
        stats,
        fetched_at_ms,
    })
}

/// Writes and reads a queue's schedule: the `flex-schedule` command's side.
pub struct ScheduleStore {
    dynamodb: Client,
    table: String,
}

impl ScheduleStore {
    pub fn new(dynamodb: Client, table: &str) -> Self {
        Self {
            dynamodb,
            table: table.to_owned(),
        }
    }

    /// The stored document of `queue`, if any, as JSON.
    pub async fn get(&self, queue: &str) -> Result<Option<String>, StoreError> {
        // Consistent: `close` and `open` edit what was just written.
        let item = get_item(&self.dynamodb, &self.table, &schedule_key(queue), true).await?;
        Ok(item.as_ref().and_then(|item| get_s(item, SCHEDULE)))
    }

    /// Checks `document` and stores it as `queue`'s schedule; nothing is written when it is
    /// invalid.
    pub async fn put(
        &self,
        queue: &str,
        document: &ScheduleDocument,
        now: i64,
    ) -> Result<(), PutScheduleError> {
        check_queue_name(queue).map_err(PutScheduleError::Queue)?;
        Schedule::from_document(document)?;
        let json = serde_json::to_string(document).expect("schedules serialize");
        if json.len() > schedule::MAX_SCHEDULE_BYTES {
            return Err(ScheduleError(format!(
                "the document is larger than {} bytes",
                schedule::MAX_SCHEDULE_BYTES
            ))
            .into());
        }
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(schedule_key(queue)))
            .item(SCHEDULE, AttributeValue::S(json))
            .item("updatedAt", AttributeValue::N(now.to_string()))
            .send()
            .await
            .map_err(|error| PutScheduleError::Store(store_error("PutItem", error)))?;
        Ok(())
    }

    /// Removes `queue`'s schedule: open around the clock again.
    pub async fn delete(&self, queue: &str) -> Result<(), PutScheduleError> {
        check_queue_name(queue).map_err(PutScheduleError::Queue)?;
        self.dynamodb
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(schedule_key(queue)))
            .send()
            .await
            .map_err(|error| PutScheduleError::Store(store_error("DeleteItem", error)))?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PutScheduleError {
    #[error("{0}")]
    Invalid(#[from] ScheduleError),
    #[error("unknown queue {0:?}: a TaskQueue SID (WQ followed by 32 hex digits) or \"default\"")]
    Queue(String),
    #[error("{0}")]
    Store(StoreError),
}

/// A schedule is kept under a TaskQueue SID, or `default` for a deployment without one.
fn check_queue_name(queue: &str) -> Result<(), String> {
    if queue == crate::config::availability::DEFAULT_QUEUE_NAME
        || crate::ids::check_sid(crate::ids::SidKind::TaskQueue, queue).is_ok()
    {
        Ok(())
    } else {
        Err(queue.to_owned())
    }
}
