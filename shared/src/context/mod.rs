//! What the bot learned before the customer asked for an agent: the optional `context` of
//! `POST /channel`. It comes from the customer's side, so everything is bounded and checked here
//! before anything is called or written; an error names the field.
//!
//! - this file: the checked [`BotContext`] and its parsing;
//! - [`task`]: the part that rides on the agent's task, fitted into TaskRouter's attribute budget;
//! - [`history`]: the transcript rendered as the few chat messages the agent reads first.

pub mod history;
pub mod task;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const MAX_INTENT_CHARS: usize = 128;
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// RFC 5646 advises that tags of up to 35 characters be supported; longer ones are not seen.
pub const MAX_LOCALE_CHARS: usize = 35;
/// The attributes object as compact JSON.
pub const MAX_ATTRIBUTES_BYTES: usize = 2048;
pub const MAX_ATTRIBUTE_KEY_CHARS: usize = 64;
pub const MAX_TRANSCRIPT_MESSAGES: usize = 50;
pub const MAX_MESSAGE_BODY_CHARS: usize = 4096;
/// All transcript bodies together, in UTF-8 bytes.
pub const MAX_TRANSCRIPT_BYTES: usize = 32 * 1024;

/// A field of `context` that is not acceptable, and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {reason}")]
pub struct ContextError {
    /// The field's path in the request body, e.g. `context.transcript[3].body`.
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ContextError {
    ContextError {
        field: field.into(),
        reason: reason.into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Author {
    Bot,
    Customer,
}

impl Author {
    pub fn label(self) -> &'static str {
        match self {
            Author::Bot => "Bot",
            Author::Customer => "Customer",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscriptEntry {
    pub author: Author,
    pub body: String,
    pub at: OffsetDateTime,
}

/// Who vouches for a context: the bot's backend, by signing it, or nobody.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContextSource {
    /// Sent by the customer's browser as it is: the bot may have said it, or the customer.
    #[default]
    CustomerProvided,
    /// Signed by the bot's backend for this customer (`contextToken`), checked here.
    BotVerified,
}

impl ContextSource {
    /// As the agent's task and history show it.
    pub fn as_str(self) -> &'static str {
        match self {
            ContextSource::CustomerProvided => "customer-provided",
            ContextSource::BotVerified => "bot-verified",
        }
    }
}

/// Characters refused in anything an agent reads: Unicode's bidirectional embeddings,
/// overrides and isolates (which reorder what is displayed, "Trojan Source"), and the line and
/// paragraph separators (which some clients break lines at, so a line could be forged).
pub fn is_deceptive(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// A checked bot context. Empty (the default) when the request carries none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BotContext {
    /// Whether the bot's backend signed it.
    pub source: ContextSource,
    pub intent: Option<String>,
    pub summary: Option<String>,
    pub locale: Option<String>,
    /// Flat routing facts (strings, numbers, booleans), keys in sorted order.
    pub attributes: Map<String, Value>,
    /// Oldest first.
    pub transcript: Vec<TranscriptEntry>,
}

impl BotContext {
    /// Checks the request's `context` value; `None` or `null` is the empty context.
    pub fn parse(value: Option<&Value>) -> Result<Self, ContextError> {
        let fields = match value {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(fields)) => fields,
            Some(_) => return Err(invalid("context", "must be a JSON object")),
        };
        let mut context = Self::default();
        for (key, value) in fields {
            let field = format!("context.{key}");
            match key.as_str() {
                "intent" => {
                    context.intent = Some(text(&field, value, MAX_INTENT_CHARS, Lines::One)?)
                }
                "summary" => {
                    context.summary = Some(text(&field, value, MAX_SUMMARY_CHARS, Lines::Many)?)
                }
                "locale" => context.locale = Some(locale(&field, value)?),
                "attributes" => context.attributes = attributes(&field, value)?,
                "transcript" => context.transcript = transcript(&field, value)?,
                _ => {
                    return Err(invalid(
                        field,
                        "is not a context field (intent, summary, locale, attributes, transcript)",
                    ));
                }
            }
        }
        Ok(context)
    }

    pub fn is_empty(&self) -> bool {
        self.intent.is_none()
            && self.summary.is_none()
            && self.locale.is_none()
            && self.attributes.is_empty()
            && self.transcript.is_empty()
    }

    /// The context without its transcript (which travels as messages), as a JSON object.
    pub fn facts(&self) -> Map<String, Value> {
        let mut facts = Map::new();
        if let Some(intent) = &self.intent {
            facts.insert("intent".into(), intent.clone().into());
        }
        if let Some(locale) = &self.locale {
            facts.insert("locale".into(), locale.clone().into());
        }
        if let Some(summary) = &self.summary {
            facts.insert("summary".into(), summary.clone().into());
        }
        if !self.attributes.is_empty() {
            facts.insert("attributes".into(), Value::Object(self.attributes.clone()));
        }
        facts
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    One,
    /// Newlines and tabs allowed: message bodies and summaries are prose.
    Many,
}

fn text(
    field: &str,
    value: &Value,
    max_chars: usize,
    lines: Lines,
) -> Result<String, ContextError> {
    let Value::String(text) = value else {
        return Err(invalid(field, "must be a string"));
    };
    let chars = text.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(invalid(
            field,
            format!("must be 1 to {max_chars} characters"),
        ));
    }
    if text.chars().any(is_deceptive) {
        return Err(invalid(
            field,
            "must not contain bidirectional control characters or line separators",
        ));
    }
    let allowed = |c: char| lines == Lines::Many && (c == '\n' || c == '\t');
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(invalid(
            field,
            if lines == Lines::Many {
                "must not contain control characters other than newline and tab"
            } else {
                "must not contain control characters"
            },
        ));
    }
    Ok(text.clone())
}

fn locale(field: &str, value: &Value) -> Result<String, ContextError> {
    let tag = text(field, value, MAX_LOCALE_CHARS, Lines::One)?;
    // Well-formed per RFC 5646; checking subtags against IANA's registry would link the
    // registry into every binary for little gain.
    match language_tags::LanguageTag::parse(&tag) {
        Ok(_) => Ok(tag),
        Err(_) => Err(invalid(field, "must be a BCP 47 language tag, e.g. en-GB")),
    }
}

fn attributes(field: &str, value: &Value) -> Result<Map<String, Value>, ContextError> {
    let Value::Object(entries) = value else {
        return Err(invalid(field, "must be a JSON object"));
    };
    for (key, value) in entries {
        let key_ok = (1..=MAX_ATTRIBUTE_KEY_CHARS).contains(&key.len())
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !key_ok {
            return Err(invalid(
                field,
                format!("keys must match [A-Za-z0-9_]{{1,{MAX_ATTRIBUTE_KEY_CHARS}}}"),
            ));
        }
        let entry = format!("{field}.{key}");
        match value {
            Value::String(text) if text.chars().any(|c| c.is_control() || is_deceptive(c)) => {
                return Err(invalid(
                    entry,
                    "must not contain control or bidirectional control characters",
                ));
            }
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
            _ => return Err(invalid(entry, "must be a string, a number or a boolean")),
        }
    }
    let size = serde_json::to_string(entries)
        .expect("a JSON map serializes")
        .len();
    if size > MAX_ATTRIBUTES_BYTES {
        return Err(invalid(
            field,
            format!("must be at most {MAX_ATTRIBUTES_BYTES} bytes of JSON, not {size}"),
        ));
    }
    Ok(entries.clone())
}

fn transcript(field: &str, value: &Value) -> Result<Vec<TranscriptEntry>, ContextError> {
    let Value::Array(messages) = value else {
        return Err(invalid(field, "must be an array of messages"));
    };
    if messages.len() > MAX_TRANSCRIPT_MESSAGES {
        return Err(invalid(
            field,
            format!("must hold at most {MAX_TRANSCRIPT_MESSAGES} messages"),
        ));
    }
    let mut entries: Vec<TranscriptEntry> = Vec::with_capacity(messages.len());
    let mut total_bytes = 0;
    for (index, message) in messages.iter().enumerate() {
        let item = format!("{field}[{index}]");
        let entry = transcript_entry(&item, message)?;
        if entries
            .last()
            .is_some_and(|previous| previous.at > entry.at)
        {
            return Err(invalid(
                format!("{item}.at"),
                "is earlier than the message before it: the transcript must be oldest first",
            ));
        }
        total_bytes += entry.body.len();
        entries.push(entry);
    }
    if total_bytes > MAX_TRANSCRIPT_BYTES {
        return Err(invalid(
            field,
            format!(
                "message bodies must total at most {MAX_TRANSCRIPT_BYTES} bytes, not {total_bytes}"
            ),
        ));
    }
    Ok(entries)
}

fn transcript_entry(item: &str, message: &Value) -> Result<TranscriptEntry, ContextError> {
    let Value::Object(fields) = message else {
        return Err(invalid(item, "must be an object with author, body and at"));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|key| !matches!(key.as_str(), "author" | "body" | "at"))
    {
        return Err(invalid(
            format!("{item}.{unknown}"),
            "is not a message field (author, body, at)",
        ));
    }
    let field = |name: &str| format!("{item}.{name}");
    let author = match fields.get("author").and_then(Value::as_str) {
        Some("bot") => Author::Bot,
        Some("customer") => Author::Customer,
        _ => return Err(invalid(field("author"), "must be \"bot\" or \"customer\"")),
    };
    let body = text(
        &field("body"),
        fields.get("body").unwrap_or(&Value::Null),
        MAX_MESSAGE_BODY_CHARS,
        Lines::Many,
    )?;
    let at = fields
        .get("at")
        .and_then(Value::as_str)
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok())
        .ok_or_else(|| invalid(field("at"), "must be an RFC 3339 timestamp"))?;
    Ok(TranscriptEntry { author, body, at })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<BotContext, ContextError> {
        BotContext::parse(Some(&value))
    }

    fn field_of(value: Value) -> String {
        parse(value).unwrap_err().field
    }

    #[test]
    fn a_full_context_parses() {
        let context = parse(json!({
            "intent": "billing_dispute",
            "summary": "Charged twice\nfor roaming.",
            "locale": "en-GB",
            "attributes": {"plan": "unlimited", "tier": 2, "vip": true},
            "transcript": [
                {"author": "customer", "body": "I was charged twice", "at": "2026-12-04T10:00:00Z"},
                {"author": "bot", "body": "Let me get an agent.\tOne moment.", "at": "2026-12-04T11:00:01+01:00"}
            ]
        }))
        .unwrap();
        assert_eq!(context.intent.as_deref(), Some("billing_dispute"));
        assert_eq!(context.attributes["tier"], 2);
        assert_eq!(context.transcript.len(), 2);
        assert_eq!(context.transcript[1].author, Author::Bot);
        assert!(!context.is_empty());
        assert!(BotContext::parse(None).unwrap().is_empty());
        assert!(BotContext::parse(Some(&Value::Null)).unwrap().is_empty());
    }

    #[test]
    fn each_bound_is_enforced_and_the_error_names_the_field() {
        let entry =
            |body: &str| json!({"author": "bot", "body": body, "at": "2026-12-04T10:00:00Z"});
        let long_body = "x".repeat(MAX_MESSAGE_BODY_CHARS);
        for (value, field) in [
            (json!([]), "context"),
            (json!({"mood": "angry"}), "context.mood"),
            (json!({"intent": "x".repeat(129)}), "context.intent"),
            (json!({"intent": ""}), "context.intent"),
            (json!({"intent": "a\nb"}), "context.intent"),
            (json!({"intent": 7}), "context.intent"),
            (json!({"summary": "x".repeat(1025)}), "context.summary"),
            (json!({"summary": "bell\u{7}"}), "context.summary"),
            (json!({"locale": "not a locale"}), "context.locale"),
            (json!({"locale": "en_GB"}), "context.locale"),
            (json!({"attributes": {"bad-key": 1}}), "context.attributes"),
            (json!({"attributes": {"k": null}}), "context.attributes.k"),
            (json!({"attributes": {"k": [1]}}), "context.attributes.k"),
            (
                json!({"attributes": {"k": {"nested": 1}}}),
                "context.attributes.k",
            ),
            (
                json!({"attributes": {"k": "a\u{1b}[31m"}}),
                "context.attributes.k",
            ),
            (
                json!({"attributes": {"k": "x".repeat(2048)}}),
                "context.attributes",
            ),
            (json!({"transcript": {}}), "context.transcript"),
            (
                json!({"transcript": vec![entry("hi"); 51]}),
                "context.transcript",
            ),
            (
                json!({"transcript": [entry("")]}),
                "context.transcript[0].body",
            ),
            (
                json!({"transcript": [entry(&format!("{long_body}x"))]}),
                "context.transcript[0].body",
            ),
            (
                json!({"transcript": [entry("nul\u{0}")]}),
                "context.transcript[0].body",
            ),
            (
                json!({"transcript": [{"author": "agent", "body": "hi", "at": "2026-12-04T10:00:00Z"}]}),
                "context.transcript[0].author",
            ),
            (
                json!({"transcript": [{"author": "bot", "body": "hi", "at": "yesterday"}]}),
                "context.transcript[0].at",
            ),
            (
                json!({"transcript": [{"author": "bot", "body": "hi", "at": "2026-12-04T10:00:00Z", "id": 1}]}),
                "context.transcript[0].id",
            ),
            (
                json!({"transcript": [entry("hi"), {"author": "bot", "body": "hi", "at": "2026-12-04T09:00:00Z"}]}),
                "context.transcript[1].at",
            ),
            (
                json!({"transcript": vec![entry(&long_body); 9]}),
                "context.transcript",
            ),
        ] {
            assert_eq!(field_of(value.clone()), field, "{value}");
        }
        // The largest transcript that is allowed: 8 bodies of 4,096 bytes are exactly 32 KiB.
        assert!(parse(json!({"transcript": vec![entry(&long_body); 8]})).is_ok());
    }

    #[test]
    fn facts_leave_the_transcript_out() {
        let context = parse(json!({
            "intent": "roaming",
            "attributes": {"plan": "unlimited"},
            "transcript": [{"author": "bot", "body": "hi", "at": "2026-12-04T10:00:00Z"}]
        }))
        .unwrap();
        assert_eq!(
            Value::Object(context.facts()),
            json!({"intent": "roaming", "attributes": {"plan": "unlimited"}})
        );
    }
}
