//! The bot context on the agent's task. TaskRouter caps a task's attributes at 4,096
//! characters, and Flex adds its own (conversation and interaction SIDs, customer name and
//! address, channel type: about 700 characters in Twilio's example, more with long identities).
//! So what we put on a task gets [`TASK_ATTRIBUTES_BUDGET`] bytes, leaving
//! [`FLEX_ATTRIBUTES_MARGIN`] to Flex. Bytes, not characters: a byte count bounds both.
//!
//! What we put there is the request's own attributes (the task's base) plus a `context` object:
//! its `source` (`bot-verified` or `customer-provided`), `intent` and `locale` always, then the routing `attributes` in key order as long as each fits,
//! then the `summary`, cut to what is left. So the summary is cut first (the whole summary is
//! also the first line of the chat's history messages), then attributes, last in key order first.

use serde_json::{Map, Value};

use super::BotContext;

pub const TWILIO_TASK_ATTRIBUTES_LIMIT: usize = 4096;
pub const FLEX_ATTRIBUTES_MARGIN: usize = 1536;
pub const TASK_ATTRIBUTES_BUDGET: usize = TWILIO_TASK_ATTRIBUTES_LIMIT - FLEX_ATTRIBUTES_MARGIN;
/// The base a caller may bring (`preEngagementData`, or our own keys), as compact JSON. Small
/// enough that intent and locale, at their longest and fully escaped, always fit beside it.
/// The request's `preEngagementData` (at most [`MAX_PRE_ENGAGEMENT_BYTES`]) plus our own keys
/// (`customerNameVerified`, or interactions mode's handoff id and name).
pub const MAX_BASE_BYTES: usize = MAX_PRE_ENGAGEMENT_BYTES + 256;
/// A request's `preEngagementData`, as compact JSON.
pub const MAX_PRE_ENGAGEMENT_BYTES: usize = 1024;
/// Marks a cut summary.
const ELLIPSIS: char = '…';

fn size(map: &Map<String, Value>) -> usize {
    serde_json::to_string(map)
        .expect("a JSON map serializes")
        .len()
}

/// `base` plus the fitted `context` object (none when the context has no facts). `base` must be
/// at most [`MAX_BASE_BYTES`] of JSON; then the result is at most [`TASK_ATTRIBUTES_BUDGET`].
pub fn fit(base: &Map<String, Value>, context: &BotContext) -> Map<String, Value> {
    debug_assert!(size(base) <= MAX_BASE_BYTES, "callers bound the base");
    let mut attributes = base.clone();
    if context.is_empty() {
        return attributes;
    }
    // Who vouches for the context, so an agent (and a routing rule) can tell the bot's findings
    // from what the customer's browser says it found.
    let mut facts = Map::new();
    facts.insert("source".into(), context.source.as_str().into());
    if let Some(intent) = &context.intent {
        facts.insert("intent".into(), intent.clone().into());
    }
    if let Some(locale) = &context.locale {
        facts.insert("locale".into(), locale.clone().into());
    }
    let with = |facts: &Map<String, Value>| {
        let mut all = attributes.clone();
        all.insert("context".into(), Value::Object(facts.clone()));
        size(&all)
    };

    let mut routing = Map::new();
    for (key, value) in &context.attributes {
        routing.insert(key.clone(), value.clone());
        let mut trial = facts.clone();
        trial.insert("attributes".into(), Value::Object(routing.clone()));
        if with(&trial) > TASK_ATTRIBUTES_BUDGET {
            routing.remove(key);
        }
    }
    if !routing.is_empty() {
        facts.insert("attributes".into(), Value::Object(routing));
    }

    if let Some(summary) = &context.summary {
        let fits = |chars: usize| {
            let mut trial = facts.clone();
            trial.insert("summary".into(), cut(summary, chars).into());
            with(&trial) <= TASK_ATTRIBUTES_BUDGET
        };
        // The longest prefix that fits: the size grows with the prefix, so bisect.
        let total = summary.chars().count();
        let (mut low, mut high) = (0, total);
        while low < high {
            let mid = (low + high).div_ceil(2);
            if fits(mid) { low = mid } else { high = mid - 1 }
        }
        if low > 0 {
            facts.insert("summary".into(), cut(summary, low).into());
        }
    }
    attributes.insert("context".into(), Value::Object(facts));
    attributes
}

/// The first `chars` characters, with an ellipsis in place of the last one when cut.
fn cut(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let mut kept: String = text.chars().take(chars.saturating_sub(1)).collect();
    kept.push(ELLIPSIS);
    kept
}

/// The task's JSON text, as the APIs take it.
pub fn to_json(attributes: &Map<String, Value>) -> String {
    serde_json::to_string(attributes).expect("a JSON map serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context(value: Value) -> BotContext {
        BotContext::parse(Some(&value)).unwrap()
    }

    #[test]
    fn a_small_context_is_kept_whole() {
        let base = json!({"handoffId": "h-1"}).as_object().unwrap().clone();
        let fitted = fit(
            &base,
            &context(
                json!({"intent": "roaming", "locale": "en-GB", "summary": "Abroad, no data.", "attributes": {"tier": "gold"}}),
            ),
        );
        assert_eq!(
            Value::Object(fitted),
            json!({"handoffId": "h-1", "context": {"source": "customer-provided", "intent": "roaming", "locale": "en-GB", "summary": "Abroad, no data.", "attributes": {"tier": "gold"}}})
        );
        assert_eq!(
            fit(&base, &BotContext::default()),
            base,
            "no context, no key"
        );
    }

    #[test]
    fn the_summary_is_cut_before_any_attribute_is_dropped() {
        let base = json!({"note": "x".repeat(MAX_BASE_BYTES - 20)})
            .as_object()
            .unwrap()
            .clone();
        let fitted = fit(
            &base,
            &context(json!({
                "intent": "i".repeat(128),
                "summary": "s".repeat(1024),
                "attributes": {"a": "x".repeat(500), "b": "y".repeat(500)}
            })),
        );
        let facts = &fitted["context"];
        assert_eq!(facts["intent"], "i".repeat(128));
        let summary = facts["summary"].as_str().unwrap();
        assert!(
            summary.ends_with('…') && summary.chars().count() < 1024,
            "{summary}"
        );
        assert_eq!(facts["attributes"].as_object().unwrap().len(), 2);
        assert!(to_json(&fitted).len() <= TASK_ATTRIBUTES_BUDGET);
        // One byte of room left means the whole budget is used: the cut is the longest that fits.
        let mut longer = fitted.clone();
        let grown: String = summary.trim_end_matches('…').to_owned() + "s…";
        longer["context"]["summary"] = grown.into();
        assert!(to_json(&longer).len() > TASK_ATTRIBUTES_BUDGET);
    }
}
