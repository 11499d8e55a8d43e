//! Conversations mode (the default): Flex UI 2.x through Twilio's web-chat orchestration.
//!
//! - **Open**: `POST /v2/WebChats` with the Address SID → (chat-end webhook ‖ first history
//!   message) → the other history messages, in order. Flex's own orchestration makes the task.
//! - **Found again**: WebChats answers once the conversation exists, so what a lost answer or a
//!   dead request made is the identity's newest `active` conversation in our service.
//! - **End events**: the conversation's state turned `closed` (Flex closes it once the agent
//!   wraps up), or the conversation removed.
//! - **Ended by the customer**: the conversation's `State` set to `closed`.
//! - **Still live?** The conversation read: `closed`, or gone, is ended.

use serde_json::Value;

use super::steps::{Opening, TwilioChats, chat_name, sid_in};
use super::{ChatRef, Condition, EndEvent, JoinEvent, Liveness, OpenedChat};
use crate::config::ConfigError;
use crate::config::env::{Env, required_sid};
use crate::context::task;
use crate::ids::SidKind;
use crate::twilio::TwilioError;

pub const FLEX_ADDRESS_SID_VAR: &str = "TWILIO_FLEX_ADDRESS_SID";

/// Conversations mode's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The Flex Conversations Address (`IG…`) of type web that WebChats opens chats on.
    pub address_sid: String,
}

impl Settings {
    pub(super) fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            address_sid: required_sid(env, FLEX_ADDRESS_SID_VAR, SidKind::ConversationsAddress)?,
        })
    }
}

/// The events that end a conversation; interactions mode's chats are conversations too.
pub(super) const END_EVENTS: &[EndEvent] = &[
    EndEvent {
        event_type: "onConversationStateUpdated",
        sid_field: "ConversationSid",
        condition: Condition::StateTo("closed"),
    },
    EndEvent {
        event_type: "onConversationRemoved",
        sid_field: "ConversationSid",
        condition: Condition::Always,
    },
];

/// Flex adds the agent as a participant when they accept the task.
pub(super) const JOIN_EVENT: JoinEvent = JoinEvent {
    event_type: "onParticipantAdded",
    sid_field: "ConversationSid",
};

pub(super) async fn open(
    settings: &Settings,
    opening: &Opening<'_>,
) -> Result<OpenedChat, TwilioError> {
    let chats = opening.chats;
    let chat = opening.chat;
    if opening.recovering
        && let Some(sid) = find_open_conversation(chats, chat.identity).await?
    {
        return opening.resume(sid, None).await;
    }
    let pre_engagement = task::to_json(&chat.task_attributes(chat.pre_engagement_data));
    let chat_name = chat_name(chat);
    let url = format!("{}/v2/WebChats", chats.hosts.flex);
    let form = [
        ("AddressSid", settings.address_sid.as_str()),
        ("Identity", chat.identity),
        ("CustomerFriendlyName", chat.friendly_name),
        ("ChatFriendlyName", &chat_name),
        ("PreEngagementData", &pre_engagement),
    ];
    let answer = match chats.twilio.create("create web chat", &url, &form).await {
        Ok(answer) => answer,
        Err(error @ TwilioError::OutcomeUnknown { .. }) => {
            match find_open_conversation(chats, chat.identity).await {
                Ok(Some(sid)) => {
                    opening.created();
                    tracing::warn!(channel_sid = %sid, %error, "found the web chat an unanswered create made");
                    return opening.hand_over(sid, None).await;
                }
                Ok(None) => {
                    tracing::warn!(%error, "no web chat came of the unanswered create: creating it once more");
                    chats.twilio.create("create web chat", &url, &form).await?
                }
                Err(_) => return Err(error),
            }
        }
        Err(error) => return Err(error),
    };
    opening.created();
    let sid = sid_in(
        "create web chat",
        &answer["conversation_sid"],
        SidKind::Channel,
    )?;
    opening.hand_over(sid, None).await
}

/// The identity's newest `active` conversation in our service, which a dead request may have
/// opened before it could record it.
async fn find_open_conversation(
    chats: &TwilioChats,
    identity: &str,
) -> Result<Option<String>, TwilioError> {
    let what = "list participant conversations";
    let url = chats.url_with(
        what,
        &format!(
            "{}/v1/Services/{}/ParticipantConversations",
            chats.hosts.conversations, chats.chat_service_sid
        ),
        &[("Identity", identity), ("PageSize", "50")],
    )?;
    let listed = chats.twilio.get(what, &url).await?;
    let newest_active = listed["conversations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["conversation_state"] == "active")
        .max_by_key(|c| {
            c["conversation_date_created"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        });
    newest_active
        .map(|c| sid_in(what, &c["conversation_sid"], SidKind::Channel))
        .transpose()
}

pub(super) async fn end(chats: &TwilioChats, chat: &ChatRef<'_>) -> Result<(), TwilioError> {
    close_conversation(chats, chat.channel_sid).await
}

/// The conversation's `State` set to `closed`; removed counts as closed.
pub(super) async fn close_conversation(chats: &TwilioChats, sid: &str) -> Result<(), TwilioError> {
    let url = chats.chat_url(super::ChatApi::Conversations, sid);
    chats
        .update_to_end(
            ("close conversation", "fetch conversation"),
            &url,
            &[("State", "closed")],
            conversation_ended,
        )
        .await
}

pub(super) async fn liveness(
    chats: &TwilioChats,
    chat: &ChatRef<'_>,
) -> Result<Liveness, TwilioError> {
    conversation_liveness(chats, chat.channel_sid).await
}

/// Whether the conversation is still open, in one read.
pub(super) async fn conversation_liveness(
    chats: &TwilioChats,
    sid: &str,
) -> Result<Liveness, TwilioError> {
    let url = chats.chat_url(super::ChatApi::Conversations, sid);
    chats
        .read_liveness("fetch conversation", &url, conversation_ended)
        .await
}

/// A conversation read as ended: `closed`, or removed (`onConversationRemoved` reads so).
fn conversation_ended(read: &Result<Value, TwilioError>) -> bool {
    match read {
        Ok(conversation) => conversation["state"] == "closed",
        Err(error) => error.is_not_found(),
    }
}
