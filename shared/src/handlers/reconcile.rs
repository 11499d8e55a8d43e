//! `reconcile-chats`, run on a schedule: the repair path for chats whose end never reached us
//! (a lost or failed webhook, `endChat` closing in Twilio and then failing in DynamoDB, a
//! conversation closed by Twilio's own timers) and whose customer does not press again.
//!
//! One run reads the active chats confirmed live longest ago (the store's sparse
//! [`crate::store::LIVE_CHATS_INDEX`], one Query per shard, no Scan), asks Twilio about each (one
//! read), and closes the ended ones exactly as their chat-end webhook would; live ones are marked
//! confirmed, so they come up again only after the interval. Bounded per run by a number of
//! checks and by the time the invocation has left. Idempotent, and safe to run twice at once:
//! every write is conditional (a second close finds the chat closed, a confirmation only moves
//! forward), so two runs can cost a duplicate Twilio read, never a wrong record.

use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt as _;
use serde::Serialize;

use crate::config::{ReconcileSettings, Settings};
use crate::flex::TwilioChats;
use crate::liveness::{self, Checked};
use crate::store::{ChannelStore, LIVE_SHARDS, LiveChat, StoreError};
use crate::twilio::TwilioClient;

/// Twilio reads in flight at once: enough to check a full run's budget in seconds, few enough
/// not to meet Twilio's concurrency limits.
const CONCURRENT_CHECKS: usize = 4;
/// No new check starts with less than this left of the invocation: a check's Twilio read may
/// take its whole deadline.
const SAFETY_MARGIN: Duration = Duration::from_secs(2);

/// What `reconcile-chats` builds once per cold start.
pub struct ReconcileState {
    pub chats: TwilioChats,
    pub store: ChannelStore,
    pub stale_after_seconds: i64,
    pub max_checks: usize,
    /// How long one Twilio read may take; no check starts unless it fits in the time left.
    pub twilio_deadline: Duration,
}

impl ReconcileState {
    pub fn build(
        settings: &Settings,
        own: &ReconcileSettings,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        let twilio = TwilioClient::new(&settings.twilio, own.twilio_deadline);
        Self {
            chats: TwilioChats::new(twilio, own.hosts.clone(), &settings.chat_service_sid),
            store: ChannelStore::new(dynamodb, &own.table, own.closed_retention_days),
            stale_after_seconds: own.stale_after_seconds,
            max_checks: own.max_checks,
            twilio_deadline: own.twilio_deadline,
        }
    }
}

/// The time a run has: until the invocation's deadline. A deadline already past when the
/// invocation arrives is no deadline Lambda sends (it sends the instant the timeout falls, in
/// epoch milliseconds); `cargo lambda watch`, which `make dev` runs, sends the relative
/// 600,000 (1970-01-01 00:10), so there the run takes `fallback`, the template's timeout less
/// a margin.
pub fn time_left(deadline: SystemTime, now: SystemTime, fallback: Duration) -> Duration {
    match deadline.duration_since(now) {
        Ok(left) => left,
        Err(_) => fallback,
    }
}

/// What `time_left` falls back to: the template's 60 s timeout less a margin.
pub const FALLBACK_TIME: Duration = Duration::from_secs(50);

/// What one run did; the function's answer, and one log line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// Chats asked about (one Twilio read each).
    pub checked: usize,
    /// Still live: marked confirmed.
    pub live: usize,
    /// Ended in Twilio and closed here: their end had not reached us.
    pub repaired: usize,
    /// Ended in Twilio and found closed already (a webhook or a press got there during the run).
    pub already_closed: usize,
    /// Twilio did not say, or closing an ended chat failed: left for the next run.
    pub failed: usize,
    /// Stale chats left unchecked (the run's budget or time ran out): the next run takes them,
    /// oldest first.
    pub left_for_next_run: bool,
}

/// One run at `now`, with `time_left` before the invocation's deadline. `Err` only when the
/// index cannot be read at all.
pub async fn reconcile(
    state: &ReconcileState,
    now: i64,
    time_left: Duration,
) -> Result<ReconcileReport, StoreError> {
    let started = Instant::now();
    let stop_starting_at =
        started + time_left.saturating_sub(state.twilio_deadline + SAFETY_MARGIN);
    let before = now - state.stale_after_seconds;
    // Each shard lists its oldest; the run takes the oldest of all, so no shard starves.
    let mut stale = Vec::new();
    for shard in 0..LIVE_SHARDS {
        stale.extend(
            state
                .store
                .unconfirmed(shard, before, state.max_checks + 1)
                .await?,
        );
    }
    stale.sort_by_key(|chat| chat.confirmed_at);
    let mut report = ReconcileReport {
        left_for_next_run: stale.len() > state.max_checks,
        ..ReconcileReport::default()
    };
    stale.truncate(state.max_checks);
    let total = stale.len();

    let mut checks = futures_util::stream::iter(stale)
        .take_while(|_| std::future::ready(Instant::now() < stop_starting_at))
        .map(|chat| async move { check(state, &chat, now).await })
        .buffer_unordered(CONCURRENT_CHECKS);
    while let Some(checked) = checks.next().await {
        report.checked += 1;
        match checked {
            Checked::Live => report.live += 1,
            Checked::Repaired => report.repaired += 1,
            Checked::AlreadyClosed => report.already_closed += 1,
            Checked::Unknown => report.failed += 1,
        }
    }
    if report.checked < total {
        report.left_for_next_run = true;
    }
    tracing::info!(
        checked = report.checked,
        live = report.live,
        repaired = report.repaired,
        already_closed = report.already_closed,
        failed = report.failed,
        left_for_next_run = report.left_for_next_run,
        "reconciled"
    );
    Ok(report)
}

async fn check(state: &ReconcileState, chat: &LiveChat, now: i64) -> Checked {
    let checked = liveness::check(
        &state.chats,
        &state.store,
        &chat.identity,
        &chat.channel_sid,
        chat.mode,
        now,
    )
    .await;
    checked.unwrap_or_else(|error| {
        tracing::warn!(%error, channel_sid = %chat.channel_sid, "could not close the ended chat; the next run asks again");
        Checked::Unknown
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_left_is_the_deadline_s_unless_the_deadline_is_already_past() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let fallback = Duration::from_secs(50);
        assert_eq!(
            time_left(now + Duration::from_secs(60), now, fallback),
            Duration::from_secs(60)
        );
        // What cargo lambda watch sends: 600,000 ms after the epoch.
        let emulator = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
        assert_eq!(time_left(emulator, now, fallback), fallback);
    }
}
