//! A TaskRouter queue's statistics, as read from Twilio, and the wait they suggest.
//!
//! Two reads per refresh: `RealTimeStatistics` (who is available now, how many tasks wait) and
//! `CumulativeStatistics` over the last [`CUMULATIVE_MINUTES`] (how long tasks waited until an
//! agent accepted them). The second moves slowly, so it is read on every
//! [`CUMULATIVE_EVERY_REFRESHES`]th refresh (once a minute with the default 10 s interval) and
//! reused in between.
//!
//! # The estimate
//!
//! A range, not a number, and none at all where it would be a guess:
//!
//! - no agent available now, or the queue closed: none (the answer says why instead);
//! - fewer than [`MIN_ACCEPTED_SAMPLES`] tasks accepted in the window: our own record of
//!   acceptances over the last 20-30 minutes instead ([`super::acceptance`]: the agent joining
//!   each chat, as its webhook tells us), read together with the cumulative figures; and where
//!   that is thin too, none;
//! - else, with `w` the window's average wait until accepted, `q` the tasks waiting now and `a`
//!   the available agents, the expected wait is `e = w × (1 + q / a)`: the recent wait, longer
//!   by the customers ahead of this one per free agent. The range is `[e / 2, 3e / 2]`, the low
//!   end rounded down to 30 s and the high end up to a minute, at least a minute apart.
//!
//! What it does not know: agents' capacity per channel, skills the workflow routes on, and
//! tasks that other channels put in the same queue. It is a hint for the customer, never a
//! promise, and the README says so.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::acceptance::RecentWaits;
use crate::config::availability::TaskQueue;
use crate::twilio::{TwilioClient, TwilioError};

/// The cumulative window: recent enough to follow a shift's staffing, long enough to hold
/// samples.
pub const CUMULATIVE_MINUTES: u32 = 30;
pub const CUMULATIVE_EVERY_REFRESHES: i64 = 6;
pub const MIN_ACCEPTED_SAMPLES: u64 = 3;

/// What one refresh learned of the queue; stored as JSON in the shared item.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub available_workers: u64,
    /// Tasks pending or reserved: not yet with an agent.
    pub waiting_tasks: u64,
    pub longest_waiting_seconds: u64,
    /// Tasks accepted within the cumulative window, and how long they waited until then.
    pub accepted_recently: u64,
    pub average_wait_seconds: u64,
    /// When the cumulative figures were read (epoch ms).
    pub cumulative_at_ms: i64,
    /// Whose figures `accepted_recently` and `average_wait_seconds` are.
    #[serde(default)]
    pub wait_source: WaitSource,
}

/// Where the recent waits come from: TaskRouter's cumulative statistics, or, where those hold
/// fewer than [`MIN_ACCEPTED_SAMPLES`], our own record of acceptances when it holds more
/// ([`super::acceptance`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WaitSource {
    #[default]
    Twilio,
    Records,
}

impl QueueStats {
    /// Takes our own recent waits where TaskRouter's are thinner.
    pub fn fill_thin_waits(&mut self, ours: RecentWaits) {
        if self.accepted_recently < MIN_ACCEPTED_SAMPLES && ours.accepted > self.accepted_recently {
            self.accepted_recently = ours.accepted;
            self.average_wait_seconds = ours.average_wait_seconds();
            self.wait_source = WaitSource::Records;
        }
    }
}

/// The estimated wait until an agent accepts, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, async_graphql::SimpleObject)]
pub struct WaitRange {
    pub low: u64,
    pub high: u64,
}

/// The estimate of the module's documentation; `None` when it would be a guess.
pub fn wait_estimate(stats: &QueueStats) -> Option<WaitRange> {
    if stats.available_workers == 0 || stats.accepted_recently < MIN_ACCEPTED_SAMPLES {
        return None;
    }
    let ahead_per_agent = stats.waiting_tasks as f64 / stats.available_workers as f64;
    let expected = stats.average_wait_seconds as f64 * (1.0 + ahead_per_agent);
    let low = ((expected / 2.0) / 30.0).floor() as u64 * 30;
    let high = ((expected * 1.5) / 60.0).ceil() as u64 * 60;
    Some(WaitRange {
        low,
        high: high.max(low + 60),
    })
}

/// Reads the real-time figures, and the cumulative ones when `previous` has none read within
/// [`CUMULATIVE_EVERY_REFRESHES`] refreshes of `refresh_ms`.
pub async fn read(
    twilio: &TwilioClient,
    taskrouter: &str,
    queue: &TaskQueue,
    previous: Option<&QueueStats>,
    refresh_ms: i64,
    now_ms: i64,
) -> Result<QueueStats, TwilioError> {
    let base = format!(
        "{taskrouter}/v1/Workspaces/{}/TaskQueues/{}",
        queue.workspace_sid, queue.task_queue_sid
    );
    let realtime = twilio
        .get(
            "TaskQueue RealTimeStatistics",
            &format!("{base}/RealTimeStatistics"),
        )
        .await?;
    let mut stats = QueueStats {
        available_workers: count(&realtime, "total_available_workers"),
        waiting_tasks: tasks_waiting(&realtime),
        longest_waiting_seconds: count(&realtime, "longest_task_waiting_age"),
        ..QueueStats::default()
    };
    match previous {
        Some(previous)
            if now_ms - previous.cumulative_at_ms < CUMULATIVE_EVERY_REFRESHES * refresh_ms =>
        {
            stats.accepted_recently = previous.accepted_recently;
            stats.average_wait_seconds = previous.average_wait_seconds;
            stats.cumulative_at_ms = previous.cumulative_at_ms;
            stats.wait_source = previous.wait_source;
        }
        _ => {
            let cumulative = twilio
                .get(
                    "TaskQueue CumulativeStatistics",
                    &format!("{base}/CumulativeStatistics?Minutes={CUMULATIVE_MINUTES}"),
                )
                .await?;
            stats.accepted_recently = count(&cumulative, "reservations_accepted");
            stats.average_wait_seconds = cumulative
                .get("wait_duration_until_accepted")
                .map_or(0, |wait| count(wait, "avg"));
            stats.cumulative_at_ms = now_ms;
        }
    }
    Ok(stats)
}

/// A count Twilio documents as an integer (some figures arrive as strings, as in
/// `tasks_by_status`' example); anything else counts as 0.
fn count(object: &Value, field: &str) -> u64 {
    match object.get(field) {
        Some(Value::Number(number)) => number
            .as_u64()
            .or_else(|| number.as_f64().map(|f| f.max(0.0).round() as u64))
            .unwrap_or(0),
        Some(Value::String(text)) => text.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// Tasks not yet with an agent: `pending` and `reserved` in `tasks_by_status`.
fn tasks_waiting(realtime: &Value) -> u64 {
    realtime.get("tasks_by_status").map_or(0, |by_status| {
        count(by_status, "pending") + count(by_status, "reserved")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stats(available: u64, waiting: u64, accepted: u64, average: u64) -> QueueStats {
        QueueStats {
            available_workers: available,
            waiting_tasks: waiting,
            accepted_recently: accepted,
            average_wait_seconds: average,
            ..QueueStats::default()
        }
    }

    #[test]
    fn the_estimate_is_a_range_around_the_recent_wait_scaled_by_the_queue() {
        // Nobody waiting: 60 s expected, 30-90 s, the high end rounded up to 2 min.
        assert_eq!(
            wait_estimate(&stats(2, 0, 10, 60)),
            Some(WaitRange { low: 30, high: 120 })
        );
        // Four ahead of two agents triple it: 180 s expected, 90-270 s -> 90-300.
        assert_eq!(
            wait_estimate(&stats(2, 4, 10, 60)),
            Some(WaitRange { low: 90, high: 300 })
        );
        // Instant pickups still leave a minute's range.
        assert_eq!(
            wait_estimate(&stats(1, 0, 5, 0)),
            Some(WaitRange { low: 0, high: 60 })
        );
    }

    #[test]
    fn no_estimate_without_an_agent_or_enough_samples() {
        assert_eq!(wait_estimate(&stats(0, 0, 50, 60)), None);
        assert_eq!(
            wait_estimate(&stats(3, 0, MIN_ACCEPTED_SAMPLES - 1, 60)),
            None
        );
        assert!(wait_estimate(&stats(3, 0, MIN_ACCEPTED_SAMPLES, 60)).is_some());
    }

    #[test]
    fn our_records_fill_in_only_where_twilio_is_thin_and_ours_hold_more() {
        let ours = RecentWaits {
            accepted: 4,
            total_wait_seconds: 240,
        };
        let mut thin = stats(2, 0, 1, 600);
        thin.fill_thin_waits(ours);
        assert_eq!(
            (
                thin.accepted_recently,
                thin.average_wait_seconds,
                thin.wait_source
            ),
            (4, 60, WaitSource::Records)
        );
        assert_eq!(wait_estimate(&thin), Some(WaitRange { low: 30, high: 120 }));
        let mut rich = stats(2, 0, MIN_ACCEPTED_SAMPLES, 600);
        rich.fill_thin_waits(ours);
        assert_eq!(
            (rich.average_wait_seconds, rich.wait_source),
            (600, WaitSource::Twilio)
        );
        let mut both_thin = stats(2, 0, 1, 600);
        both_thin.fill_thin_waits(RecentWaits {
            accepted: 1,
            total_wait_seconds: 5,
        });
        assert_eq!(both_thin.wait_source, WaitSource::Twilio);
        assert_eq!(wait_estimate(&both_thin), None);
    }

    #[test]
    fn statistics_stored_before_the_wait_source_existed_read_as_twilio_s() {
        let stored: QueueStats = serde_json::from_value(json!({
            "availableWorkers": 1, "waitingTasks": 0, "longestWaitingSeconds": 0,
            "acceptedRecently": 5, "averageWaitSeconds": 30, "cumulativeAtMs": 1
        }))
        .unwrap();
        assert_eq!(stored.wait_source, WaitSource::Twilio);
    }

    #[test]
    fn counts_read_twilio_numbers_and_numeric_strings() {
        let realtime = json!({
            "total_available_workers": 3,
            "tasks_by_status": {"pending": "2", "reserved": 1, "assigned": "7"},
            "longest_task_waiting_age": 95.4,
        });
        assert_eq!(count(&realtime, "total_available_workers"), 3);
        assert_eq!(tasks_waiting(&realtime), 3);
        assert_eq!(count(&realtime, "longest_task_waiting_age"), 95);
        assert_eq!(count(&json!({"x": -4}), "x"), 0);
        assert_eq!(count(&json!({"x": "many"}), "x"), 0);
        assert_eq!(tasks_waiting(&json!({"tasks_by_status": null})), 0);
    }
}
