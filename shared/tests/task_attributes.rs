//! Whatever bot context a customer sends, what we put on the agent's task is valid JSON within
//! TaskRouter's 4,096 characters (with Flex's margin left over), and keeps `intent` and `locale`;
//! and the whole context fits a conversation's attributes.

use flex_handoff::context::task::{MAX_BASE_BYTES, TASK_ATTRIBUTES_BUDGET, fit, to_json};
use flex_handoff::context::{BotContext, MAX_ATTRIBUTES_BYTES};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Text of up to `max` characters from any script, quotes and backslashes included (JSON
/// escapes those), without control or bidirectional control characters (which the context
/// refuses: a generator that made them would spend its time on rejected cases).
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('"'),
            Just('\\'),
            Just('é'),
            Just('😀'),
            Just('\u{200f}'),
            proptest::char::range('a', 'z'),
            proptest::char::range('\u{4e00}', '\u{4eff}'),
        ],
        1..=max,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn attribute_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        text(200).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ]
}

fn context() -> impl Strategy<Value = BotContext> {
    (
        proptest::option::of(text(128)),
        proptest::option::of(text(1024)),
        proptest::option::of(prop_oneof![
            Just("en"),
            Just("en-GB"),
            Just("zh-Hant-CN-x-private1-private2"),
        ]),
        proptest::collection::btree_map("[A-Za-z0-9_]{1,64}", attribute_value(), 0..40),
    )
        .prop_filter_map(
            "within the context's own bounds",
            |(intent, summary, locale, attributes)| {
                let mut attributes: Map<String, Value> = attributes.into_iter().collect();
                while serde_json::to_string(&attributes).unwrap().len() > MAX_ATTRIBUTES_BYTES {
                    let last = attributes.keys().next_back().cloned()?;
                    attributes.remove(&last);
                }
                let mut value = json!({"attributes": attributes});
                if let Some(intent) = intent {
                    value["intent"] = intent.into();
                }
                if let Some(summary) = summary {
                    value["summary"] = summary.into();
                }
                if let Some(locale) = locale {
                    value["locale"] = locale.into();
                }
                BotContext::parse(Some(&value)).ok()
            },
        )
}

/// A base at the largest a caller can bring: `preEngagementData` up to its limit.
fn base() -> impl Strategy<Value = Map<String, Value>> {
    (text(1000), 0..=MAX_BASE_BYTES).prop_map(|(filler, limit)| {
        let mut base = Map::new();
        base.insert("question".into(), filler.into());
        // Halve the text until it fits; an empty base (`{}`, 2 bytes) fits any budget we give.
        while !base.is_empty() && to_json(&base).len() > limit {
            let question = base["question"].as_str().unwrap();
            let shorter: String = question
                .chars()
                .take(question.chars().count() / 2)
                .collect();
            if shorter.is_empty() {
                base.clear();
            } else {
                base.insert("question".into(), shorter.into());
            }
        }
        base
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn task_attributes_fit_and_keep_intent_and_locale(base in base(), context in context()) {
        let attributes = fit(&base, &context);
        let text = to_json(&attributes);
        prop_assert!(text.len() <= TASK_ATTRIBUTES_BUDGET, "{} bytes", text.len());
        prop_assert!(text.chars().count() <= 4096);
        let parsed: Value = serde_json::from_str(&text).expect("valid JSON");
        for (key, value) in &base {
            prop_assert_eq!(&parsed[key], value, "the base is kept whole");
        }
        if let Some(intent) = &context.intent {
            prop_assert_eq!(parsed["context"]["intent"].as_str(), Some(intent.as_str()));
        }
        if let Some(locale) = &context.locale {
            prop_assert_eq!(parsed["context"]["locale"].as_str(), Some(locale.as_str()));
        }
        // Cutting is deterministic: the same input gives the same attributes.
        prop_assert_eq!(to_json(&fit(&base, &context)), text);
    }

    /// Interactions mode puts the whole context (but the transcript) on the conversation,
    /// whose attributes Twilio caps at 16 KiB.
    #[test]
    fn the_whole_context_fits_a_conversations_attributes(context in context()) {
        let attributes = json!({"handoffId": uuid::Uuid::new_v4().to_string(), "context": context.facts()});
        prop_assert!(attributes.to_string().len() <= 16 * 1024);
    }
}
