//! Metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout: CloudWatch Logs turns
//! each line into metrics as Lambda ships the log, so counting costs no API call and no extra
//! latency. One JSON object per line, never wrapped by the log formatter (CloudWatch reads only
//! a line that is EMF as a whole).
//!
//! - `FlexHandoff` `ChatsOpened`, `ChatsReused`, `ChatsRepaired`, `ChatsFailed` by `Mode`: what a
//!   press (or the reconciler, for repairs) came to. A repair is a chat we held as open that
//!   Twilio said had ended: its chat-end webhook never reached us.
//! - `FlexHandoff` `TwilioLatency` (milliseconds) by `Operation` and `Outcome`: each Twilio
//!   request our client makes, retries included, so a slow Twilio shows before it times out.
//!
//! template.yaml alarms on `ChatsRepaired` (webhooks are being lost) and on API Gateway's 5xx.

use std::io::Write as _;

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "FlexHandoff";

/// What one press, or one reconciler check, came to for a chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatOutcome {
    /// A new chat: an agent gets a task.
    Opened,
    /// The customer's open chat, handed back.
    Reused,
    /// A chat held as open that Twilio said had ended, closed here because its end never
    /// reached us.
    Repaired,
    /// No chat: opening failed.
    Failed,
}

impl ChatOutcome {
    pub fn metric_name(self) -> &'static str {
        match self {
            ChatOutcome::Opened => "ChatsOpened",
            ChatOutcome::Reused => "ChatsReused",
            ChatOutcome::Repaired => "ChatsRepaired",
            ChatOutcome::Failed => "ChatsFailed",
        }
    }
}

/// Counts one chat outcome in the Flex mode named `mode` (a name, not the type: the Twilio client
/// records metrics too, and sits below `flex`).
pub fn chat(outcome: ChatOutcome, mode: &'static str) {
    emit(&emf_line(
        &[("Mode", mode)],
        &[(outcome.metric_name(), "Count", 1.0)],
        crate::clock::unix_now_millis(),
    ));
}

/// Records one rating: a count per score (`Score` "1" to "5") and mode, so a dashboard shows the
/// spread of scores per Flex flow without reading the table.
pub fn chat_rated(score: u8, mode: &'static str) {
    const SCORES: [&str; 5] = ["1", "2", "3", "4", "5"];
    let score = SCORES[usize::from(score.clamp(1, 5)) - 1];
    emit(&emf_line(
        &[("Mode", mode), ("Score", score)],
        &[("ChatsRated", "Count", 1.0)],
        crate::clock::unix_now_millis(),
    ));
}

/// Records one Twilio request: `operation` is the client's name for it (a fixed string, so the
/// dimension stays small), `outcome` `ok` or the failure's kind.
pub fn twilio_call(operation: &'static str, outcome: &'static str, millis: f64) {
    emit(&emf_line(
        &[("Operation", operation), ("Outcome", outcome)],
        &[("TwilioLatency", "Milliseconds", millis)],
        crate::clock::unix_now_millis(),
    ));
}

/// One EMF object: `dimensions` are one dimension set (name, value), `metrics` (name, unit,
/// value); CloudWatch reads each name's value from the object's top level.
pub fn emf_line(
    dimensions: &[(&str, &str)],
    metrics: &[(&str, &str, f64)],
    timestamp_millis: i64,
) -> String {
    let mut object = Map::new();
    object.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_millis,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(name, _)| *name).collect::<Vec<_>>()],
                "Metrics": metrics
                    .iter()
                    .map(|(name, unit, _)| json!({ "Name": name, "Unit": unit }))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (name, value) in dimensions {
        object.insert((*name).into(), Value::from(*value));
    }
    for (name, _, value) in metrics {
        object.insert((*name).into(), Value::from(*value));
    }
    Value::Object(object).to_string()
}

/// Writes one line in one call, so lines of concurrent requests never interleave.
fn emit(line: &str) {
    let mut stdout = std::io::stdout().lock();
    // A metric must never fail a request; a closed stdout loses the metric only.
    let _ = writeln!(stdout, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_emf_object_that_names_each_value_it_carries() {
        let line = emf_line(
            &[("Mode", "interactions")],
            &[("ChatsRepaired", "Count", 1.0)],
            1_700_000_000_123,
        );
        assert!(!line.contains('\n'));
        let value: Value = serde_json::from_str(&line).unwrap();
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(value["_aws"]["Timestamp"], 1_700_000_000_123_i64);
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Mode"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{ "Name": "ChatsRepaired", "Unit": "Count" }])
        );
        // CloudWatch drops a metric whose named dimension or value is missing at the top level.
        assert_eq!(value["Mode"], "interactions");
        assert_eq!(value["ChatsRepaired"], 1.0);
    }

    #[test]
    fn every_outcome_has_its_own_metric() {
        let names = [
            ChatOutcome::Opened,
            ChatOutcome::Reused,
            ChatOutcome::Repaired,
            ChatOutcome::Failed,
        ]
        .map(ChatOutcome::metric_name);
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }
}
