//! The bot conversation as the chat's first messages, so the agent reads it in the stock Flex UI
//! when accepting the task: in order, who said what and when, marked apart from live messages.
//!
//! Why a few long messages rather than one per transcript entry: Twilio orders a chat's messages
//! by arrival, so posting entries concurrently scrambles them, and posting them one by one costs
//! a round trip each (20 entries, 20 round trips). Packing entries into messages of at most
//! [`MAX_HISTORY_MESSAGE_CHARS`] posts a typical transcript (20 entries, ~2,000 characters) in
//! two messages, posted in order. The limit is the lower of Twilio's two published bounds (its
//! Conversations spec says 1,600 characters a body; its limits page says 32 KB for chat), since
//! the higher cannot be shown here.

use super::{BotContext, ContextSource};

pub const MAX_HISTORY_MESSAGE_CHARS: usize = 1600;
/// The author of history messages: not a participant, so Flex shows it as its own sender.
pub const HISTORY_AUTHOR: &str = "bot-transcript";
/// The most parts a history can have, for the header's width: 32 KiB of bodies plus their
/// timestamps fit in far fewer.
const MAX_PARTS: usize = 99;
const CONTINUED: &str = "… ";
/// Before each continuation line of a multi-line summary or message body.
const CONTINUATION_INDENT: &str = "    ";

/// One message of the history, in posting order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryMessage {
    pub body: String,
    /// JSON text: marks the message as history for any client that reads attributes.
    pub attributes: String,
}

fn header(part: usize, parts: usize, source: ContextSource) -> String {
    let vouched = match source {
        ContextSource::BotVerified => "verified by the bot's backend",
        ContextSource::CustomerProvided => "as the customer's browser sent it, not verified",
    };
    format!("Conversation with the bot before this handoff ({vouched}; part {part} of {parts}):")
}

/// Indents every line of `text` after the first, so that only our own lines start at the left
/// margin: a body holding "\n[10:00:00 UTC] Bot: …" cannot pass as another entry.
fn indented(text: &str) -> String {
    text.replace('\n', &format!("\n{CONTINUATION_INDENT}"))
}

/// The messages that carry the context's summary and transcript; none when it has neither.
pub fn history_messages(context: &BotContext) -> Vec<HistoryMessage> {
    if context.summary.is_none() && context.transcript.is_empty() {
        return Vec::new();
    }
    let mut lines = Vec::new();
    if let Some(intent) = &context.intent {
        lines.push(format!("Intent: {intent}"));
    }
    if let Some(summary) = &context.summary {
        lines.push(format!("Summary: {}", indented(summary)));
    }
    for entry in &context.transcript {
        let at = entry.at.to_offset(time::UtcOffset::UTC);
        lines.push(format!(
            "[{:02}:{:02}:{:02} UTC] {}: {}",
            at.hour(),
            at.minute(),
            at.second(),
            entry.author.label(),
            indented(&entry.body)
        ));
    }

    let capacity = MAX_HISTORY_MESSAGE_CHARS
        - header(MAX_PARTS, MAX_PARTS, context.source).chars().count()
        - 1;
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_chars = 0;
    for line in lines {
        for piece in pieces(&line, capacity) {
            let piece_chars = piece.chars().count();
            let needed = piece_chars + usize::from(current_chars > 0);
            if current_chars + needed > capacity {
                parts.push(std::mem::take(&mut current));
                current_chars = 0;
            }
            if current_chars > 0 {
                current.push('\n');
                current_chars += 1;
            }
            current.push_str(&piece);
            current_chars += piece_chars;
        }
    }
    parts.push(current);

    let count = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(index, text)| HistoryMessage {
            body: format!("{}\n{text}", header(index + 1, count, context.source)),
            attributes: serde_json::json!({
                "flexHandoff": {
                    "kind": "bot-transcript", "part": index + 1, "parts": count,
                    "source": context.source.as_str(),
                }
            })
            .to_string(),
        })
        .collect()
}

/// A line split into pieces of at most `capacity` characters, each after the first marked as
/// continued.
fn pieces(line: &str, capacity: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= capacity {
        return vec![line.to_owned()];
    }
    let mut pieces = vec![chars[..capacity].iter().collect::<String>()];
    let room = capacity - CONTINUED.chars().count();
    for chunk in chars[capacity..].chunks(room) {
        pieces.push(format!("{CONTINUED}{}", chunk.iter().collect::<String>()));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context(value: serde_json::Value) -> BotContext {
        BotContext::parse(Some(&value)).unwrap()
    }

    fn entries(count: usize, body_chars: usize) -> serde_json::Value {
        let entries: Vec<_> = (0..count)
            .map(|i| {
                json!({
                    "author": if i % 2 == 0 { "customer" } else { "bot" },
                    "body": format!("{i:02}{}", "x".repeat(body_chars - 2)),
                    "at": format!("2026-12-04T10:{i:02}:00+01:00"),
                })
            })
            .collect();
        json!(entries)
    }

    #[test]
    fn no_summary_and_no_transcript_post_nothing() {
        assert!(history_messages(&context(json!({"intent": "roaming"}))).is_empty());
    }

    #[test]
    fn a_short_transcript_is_one_message_in_order_with_authors_and_utc_times() {
        let messages = history_messages(&context(json!({
            "intent": "roaming",
            "summary": "No data abroad.",
            "transcript": [
                {"author": "customer", "body": "My data stopped", "at": "2026-12-04T11:02:07+01:00"},
                {"author": "bot", "body": "Are you abroad?", "at": "2026-12-04T10:02:09Z"}
            ]
        })));
        assert_eq!(messages.len(), 1);
        assert_eq!(
            messages[0].body,
            "Conversation with the bot before this handoff (as the customer's browser sent it, \
             not verified; part 1 of 1):\n\
             Intent: roaming\n\
             Summary: No data abroad.\n\
             [10:02:07 UTC] Customer: My data stopped\n\
             [10:02:09 UTC] Bot: Are you abroad?"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&messages[0].attributes).unwrap(),
            json!({"flexHandoff": {"kind": "bot-transcript", "part": 1, "parts": 1, "source": "customer-provided"}})
        );
    }

    /// A body or summary of several lines cannot pass off a line of its own as an entry (or a
    /// header): every line after its first is indented, and only ours start at the margin.
    #[test]
    fn multi_line_bodies_cannot_forge_entries() {
        let forged = "Thanks\n[10:02:09 UTC] Bot: Your account is verified, tier gold\nConversation with the bot before this handoff (verified by the bot's backend; part 1 of 1):";
        let mut context = context(json!({
            "summary": "Two\nlines",
            "transcript": [{"author": "customer", "body": forged, "at": "2026-12-04T10:02:07Z"}]
        }));
        let lines: Vec<String> = history_messages(&context)[0]
            .body
            .lines()
            .map(str::to_owned)
            .collect();
        let at_margin: Vec<&String> = lines.iter().filter(|line| !line.starts_with(' ')).collect();
        assert_eq!(at_margin.len(), 3, "header, summary, one entry: {lines:#?}");
        assert!(at_margin[2].starts_with("[10:02:07 UTC] Customer: Thanks"));
        assert!(
            lines.contains(
                &"    [10:02:09 UTC] Bot: Your account is verified, tier gold".to_owned()
            )
        );
        assert!(lines.contains(&"    lines".to_owned()));

        context.source = ContextSource::BotVerified;
        assert!(history_messages(&context)[0].body.starts_with(
            "Conversation with the bot before this handoff (verified by the bot's backend; part 1 of 1):\n"
        ));
    }

    #[test]
    fn a_typical_transcript_takes_two_messages() {
        // 20 entries of 100 characters: ~2,000 characters, as the benchmark's typical case.
        let messages = history_messages(&context(json!({"transcript": entries(20, 100)})));
        assert_eq!(messages.len(), 2);
        let header = messages[1].body.lines().next().unwrap();
        assert!(header.ends_with("; part 2 of 2):"), "{header}");
    }

    #[test]
    fn the_largest_transcript_fits_the_body_limit_and_keeps_every_character_in_order() {
        let messages = history_messages(&context(json!({"transcript": entries(8, 4096)})));
        assert!(messages.len() > 20, "{}", messages.len());
        for message in &messages {
            assert!(message.body.chars().count() <= MAX_HISTORY_MESSAGE_CHARS);
        }
        let joined: String = messages
            .iter()
            .map(|m| {
                m.body
                    .split_once('\n')
                    .unwrap()
                    .1
                    .replace(&format!("\n{CONTINUED}"), "")
                    .replace(CONTINUED, "")
            })
            .collect();
        let mut at = 0;
        for i in 0..8 {
            let found = joined[at..]
                .find(&format!("{i:02}{}", "x".repeat(100)))
                .map(|p| p + at);
            at = found.unwrap_or_else(|| panic!("entry {i} is in order"));
        }
        assert_eq!(joined.matches('x').count(), 8 * 4094);
    }
}
