//! Our own record of how long customers waited for an agent: written by flex-webhook when the
//! agent joins a chat, read by the statistics refresh where TaskRouter's cumulative figures are
//! too thin for an estimate ([`super::stats::MIN_ACCEPTED_SAMPLES`]).
//!
//! The chat's record gets `acceptedAt`, and the queue's bucket of [`BUCKET_SECONDS`] in which it
//! happened, `accepted#<queue>#<bucket start>`, adds one acceptance and its wait (`acceptedAt` -
//! `createdAt`). Both in one transaction conditioned on `acceptedAt` being unset and the chat
//! open, so a webhook Twilio retries, or delivers twice at once, counts once, and a chat is
//! counted only with its record marked. Buckets expire a day later (TTL); the refresh reads the
//! last [`BUCKETS_READ`]: one GetItem each, at most once per cumulative read (a minute).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use crate::store::{
    ACCEPTED_AT, ChatRecord, ChatStatus, KEY, StoreError, TTL_ATTRIBUTE, chat_key, conditional,
    get_n, n, s,
};

pub const BUCKET_SECONDS: i64 = 600;
/// The current bucket and the two before it: the last 20 to 30 minutes, as TaskRouter's window.
pub const BUCKETS_READ: i64 = 3;
const BUCKET_RETENTION_SECONDS: i64 = 86_400;
const ACCEPTED: &str = "accepted";
const WAIT_SECONDS: &str = "waitSeconds";

/// What a join event came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// The first agent joined: recorded, after this wait.
    Recorded { wait_seconds: i64 },
    /// Recorded before: a retried webhook, or a second agent (a transfer).
    AlreadyRecorded,
    /// The customer's own participant, added when the chat was opened.
    Customer,
    /// The chat is closed: a late delivery.
    Closed,
}

/// Acceptances recorded for one queue within the last buckets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecentWaits {
    pub accepted: u64,
    pub total_wait_seconds: u64,
}

impl RecentWaits {
    pub fn average_wait_seconds(&self) -> u64 {
        self.total_wait_seconds
            .checked_div(self.accepted)
            .unwrap_or_default()
    }
}

/// One queue's acceptances in the channels table.
pub struct AcceptanceLog {
    dynamodb: Client,
    table: String,
    queue: String,
}

impl AcceptanceLog {
    pub fn new(dynamodb: Client, table: &str, queue: &str) -> Self {
        Self {
            dynamodb,
            table: table.to_owned(),
            queue: queue.to_owned(),
        }
    }

    /// Records that `joiner` joined the chat of `record`, just read, at `now` (epoch seconds).
    pub async fn record(
        &self,
        record: &ChatRecord,
        joiner: &str,
        now: i64,
    ) -> Result<Acceptance, StoreError> {
        if joiner == record.identity {
            return Ok(Acceptance::Customer);
        }
        if record.status == ChatStatus::Closed {
            return Ok(Acceptance::Closed);
        }
        if record.accepted_at.is_some() {
            return Ok(Acceptance::AlreadyRecorded);
        }
        let wait_seconds = (now - record.created_at).max(0);
        let mark_record = Update::builder()
            .table_name(&self.table)
            .key(KEY, chat_key(&record.channel_sid))
            .update_expression("SET #accepted = :now")
            .condition_expression("attribute_not_exists(#accepted) AND #status = :active")
            .expression_attribute_names("#accepted", ACCEPTED_AT)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":active", s(ChatStatus::Active.as_str()))
            .build()
            .expect("update has table, key and expression");
        let bucket = bucket_start(now);
        let count_wait = Update::builder()
            .table_name(&self.table)
            .key(KEY, s(bucket_key(&self.queue, bucket)))
            .update_expression("SET #ttl = :ttl ADD #accepted :one, #wait :wait")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_names("#accepted", ACCEPTED)
            .expression_attribute_names("#wait", WAIT_SECONDS)
            .expression_attribute_values(":ttl", n(bucket + BUCKET_RETENTION_SECONDS))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":wait", n(wait_seconds))
            .build()
            .expect("update has table, key and expression");
        let written = self
            .dynamodb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark_record).build())
            .transact_items(TransactWriteItem::builder().update(count_wait).build())
            .send()
            .await;
        // Refused: another delivery recorded it first, or the chat closed since the read.
        Ok(if conditional("TransactWriteItems", written)? {
            Acceptance::Recorded { wait_seconds }
        } else {
            Acceptance::AlreadyRecorded
        })
    }

    /// The acceptances of the last [`BUCKETS_READ`] buckets up to `now` (epoch seconds).
    pub async fn recent(&self, now: i64) -> Result<RecentWaits, StoreError> {
        let current = bucket_start(now);
        let reads = (0..BUCKETS_READ).map(|back| {
            let key = bucket_key(&self.queue, current - back * BUCKET_SECONDS);
            async move { super::get_item(&self.dynamodb, &self.table, &key, false).await }
        });
        let mut recent = RecentWaits::default();
        for item in futures_util::future::try_join_all(reads).await? {
            let Some(item) = item else { continue };
            let count = |name| get_n(&item, name).unwrap_or(0).max(0) as u64;
            recent.accepted += count(ACCEPTED);
            recent.total_wait_seconds += count(WAIT_SECONDS);
        }
        Ok(recent)
    }
}

fn bucket_start(now: i64) -> i64 {
    now.div_euclid(BUCKET_SECONDS) * BUCKET_SECONDS
}

fn bucket_key(queue: &str, bucket_start: i64) -> String {
    format!("accepted#{queue}#{bucket_start}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ten_minutes_from_the_epoch_and_named_per_queue() {
        assert_eq!(bucket_start(1_799), 1_200);
        assert_eq!(bucket_start(1_800), 1_800);
        assert_eq!(bucket_key("WQ1", 1_800), "accepted#WQ1#1800");
    }

    #[test]
    fn the_average_of_nothing_is_zero_not_a_panic() {
        assert_eq!(RecentWaits::default().average_wait_seconds(), 0);
        let recent = RecentWaits {
            accepted: 4,
            total_wait_seconds: 250,
        };
        assert_eq!(recent.average_wait_seconds(), 62);
    }
}
