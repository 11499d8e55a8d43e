//! A chat's messages as Twilio keeps them, one page per call: a conversation's
//! (`…/Conversations/{CH}/Messages`) or a legacy channel's (`…/Channels/{CH}/Messages`), oldest
//! first. Who wrote each is decided here from the chat's record: the customer's identity, our
//! bot history's author, or anyone else (an agent).

use serde_json::Value;

use super::{ChatApi, FlexMode, TwilioChats};
use crate::context::history::HISTORY_AUTHOR;
use crate::twilio::TwilioError;

/// The largest page one request reads from Twilio.
pub const MAX_PAGE_SIZE: usize = 50;
/// The longest page token we carry in a cursor (Twilio's are ~30 characters).
const MAX_PAGE_TOKEN_CHARS: usize = 128;

/// Who wrote a message, as the customer's transcript shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum MessageRole {
    /// The caller.
    Customer,
    /// A Flex agent.
    Agent,
    /// The bot's conversation before the handoff, as the agent was shown it.
    Bot,
}

/// A file attached to a message: what Twilio says of it. Twilio's message resources carry no
/// link to the file (a temporary one needs the account's credentials), so none is given.
#[derive(Clone, Debug, PartialEq, Eq, async_graphql::SimpleObject)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: Option<String>,
    /// In bytes.
    pub size: Option<u64>,
}

/// One message of a page, its author already named for the customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscriptMessage {
    pub role: MessageRole,
    pub author: String,
    pub body: String,
    /// Epoch seconds; `None` when Twilio's date does not parse.
    pub at: Option<i64>,
    pub attachments: Vec<Attachment>,
}

/// Where the next page starts: Twilio's page number and token, as its `next_page_url` gave
/// them. Opaque to clients; a forged one can only page within the chat the caller owns, since
/// the chat comes from the record, never from the cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageCursor {
    page: u32,
    token: String,
}

impl MessageCursor {
    /// base64url of `<page>.<token>`.
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}.{}", self.page, self.token))
    }

    /// `None` for anything [`Self::encode`] did not make.
    pub fn decode(text: &str) -> Option<Self> {
        use base64::Engine as _;
        if text.len() > 2 * MAX_PAGE_TOKEN_CHARS {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (page, token) = text.split_once('.')?;
        Self::from_parts(page, token)
    }

    fn from_parts(page: &str, token: &str) -> Option<Self> {
        let token_ok = !token.is_empty()
            && token.len() <= MAX_PAGE_TOKEN_CHARS
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let page = page.parse().ok().filter(|page| *page <= 1_000_000)?;
        token_ok.then(|| Self {
            page,
            token: token.to_owned(),
        })
    }

    /// The cursor of Twilio's `meta.next_page_url`, if it names a next page.
    fn of_next_page(meta: &Value) -> Option<Self> {
        let url = reqwest::Url::parse(meta.get("next_page_url")?.as_str()?).ok()?;
        let query = |name: &str| {
            url.query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        Self::from_parts(&query("Page")?, &query("PageToken")?)
    }
}

/// One page of a chat's messages.
#[derive(Debug, PartialEq, Eq)]
pub struct TranscriptPage {
    pub messages: Vec<TranscriptMessage>,
    pub next: Option<MessageCursor>,
}

/// How a transcript names its authors.
pub struct Authors<'a> {
    /// The customer's identity: their messages' author.
    pub customer_identity: &'a str,
    /// What every agent is called.
    pub agent_name: &'a str,
}

impl TwilioChats {
    /// One page of at most `page_size` (1 to [`MAX_PAGE_SIZE`]) of the chat's messages, oldest
    /// first, from `after` on: one Twilio call.
    pub async fn transcript_page(
        &self,
        mode: FlexMode,
        channel_sid: &str,
        page_size: usize,
        after: Option<&MessageCursor>,
        authors: &Authors<'_>,
    ) -> Result<TranscriptPage, TwilioError> {
        let what = "list chat messages";
        let api = mode.chat_api();
        let base = format!("{}/Messages", self.chat_url(api, channel_sid));
        let size = page_size.clamp(1, MAX_PAGE_SIZE).to_string();
        let mut query = vec![("Order", "asc"), ("PageSize", size.as_str())];
        let page;
        if let Some(after) = after {
            page = after.page.to_string();
            query.extend([("Page", page.as_str()), ("PageToken", after.token.as_str())]);
        }
        let url = self.url_with(what, &base, &query)?;
        let listed = self.twilio.get(what, &url).await?;
        let messages = listed["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .take(MAX_PAGE_SIZE)
            .map(|message| read_message(api, message, authors))
            .collect();
        Ok(TranscriptPage {
            messages,
            next: listed.get("meta").and_then(MessageCursor::of_next_page),
        })
    }
}

fn read_message(api: ChatApi, message: &Value, authors: &Authors<'_>) -> TranscriptMessage {
    let author_field = match api {
        ChatApi::Conversations => "author",
        ChatApi::ProgrammableChat => "from",
    };
    let author = message[author_field].as_str().unwrap_or_default();
    let (role, shown) = if author == authors.customer_identity {
        (MessageRole::Customer, "You")
    } else if author == HISTORY_AUTHOR {
        (MessageRole::Bot, "Bot")
    } else {
        (MessageRole::Agent, authors.agent_name)
    };
    TranscriptMessage {
        role,
        author: shown.to_owned(),
        body: message["body"].as_str().unwrap_or_default().to_owned(),
        at: message["date_created"]
            .as_str()
            .and_then(|date| date.parse::<jiff::Timestamp>().ok())
            .map(|at| at.as_second()),
        attachments: attachments(&message["media"]),
    }
}

/// Conversations gives a list of media, legacy Chat one media object.
fn attachments(media: &Value) -> Vec<Attachment> {
    let one = |item: &Value| Attachment {
        filename: item["filename"].as_str().map(str::to_owned),
        content_type: item["content_type"].as_str().map(str::to_owned),
        size: item["size"].as_u64(),
    };
    match media {
        Value::Array(items) => items.iter().take(10).map(one).collect(),
        Value::Object(_) => vec![one(media)],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AUTHORS: Authors<'static> = Authors {
        customer_identity: "guest-1",
        agent_name: "Agent",
    };

    #[test]
    fn authors_are_named_by_role_and_agents_by_the_configured_name() {
        let read = |author: &str| {
            read_message(
                ChatApi::Conversations,
                &json!({"author": author, "body": "hi", "date_created": "2026-12-05T10:00:07Z"}),
                &AUTHORS,
            )
        };
        let customer = read("guest-1");
        assert_eq!(
            (customer.role, customer.author.as_str()),
            (MessageRole::Customer, "You")
        );
        assert_eq!(customer.at, Some(1_796_464_807));
        let agent = read("alex.smith@example.com");
        assert_eq!(
            (agent.role, agent.author.as_str()),
            (MessageRole::Agent, "Agent")
        );
        let bot = read(HISTORY_AUTHOR);
        assert_eq!(bot.role, MessageRole::Bot);
        let legacy = read_message(
            ChatApi::ProgrammableChat,
            &json!({"from": "guest-1", "body": "x", "date_created": "not a date",
                    "media": {"filename": "a.png", "content_type": "image/png", "size": 10}}),
            &AUTHORS,
        );
        assert_eq!(legacy.role, MessageRole::Customer);
        assert_eq!(legacy.at, None);
        assert_eq!(legacy.attachments[0].filename.as_deref(), Some("a.png"));
    }

    #[test]
    fn cursors_carry_twilio_s_next_page_and_refuse_anything_else() {
        let meta = json!({"next_page_url":
            "https://conversations.twilio.com/v1/Services/IS1/Conversations/CH1/Messages?Order=asc&PageSize=2&Page=1&PageToken=PT2"});
        let next = MessageCursor::of_next_page(&meta).unwrap();
        assert_eq!(MessageCursor::decode(&next.encode()), Some(next.clone()));
        assert_eq!(next.page, 1);
        assert_eq!(
            MessageCursor::of_next_page(&json!({"next_page_url": null})),
            None
        );
        use base64::Engine as _;
        let forged = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        for bad in [
            "not base64!".to_owned(),
            forged("1.PT2&Page=9"),
            forged("x.PT2"),
            forged("1."),
            forged(&format!("1.{}", "a".repeat(MAX_PAGE_TOKEN_CHARS + 1))),
        ] {
            assert_eq!(MessageCursor::decode(&bad), None, "{bad}");
        }
    }
}
