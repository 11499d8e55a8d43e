//! Legacy mode (`chat`): Flex UI 1.x on Programmable Chat, which Twilio ended for Flex on
//! 2026-06-01; kept for accounts that have not migrated.
//!
//! - **Checked at cold start**: the Flex Flow can take web chats (channel type `web` or
//!   `custom`, enabled).
//! - **Open**: `POST /v1/Channels` with the Flex Flow SID → (chat-end webhook ‖ first history
//!   message) → the rest. Flex makes the task.
//! - **Found again**: Flex answers a second create with the identity's open channel on the Flex
//!   Flow rather than opening another, so asking again is how a lost answer's or a dead
//!   request's channel is found. Once per request: more would lean harder on that reuse.
//! - **End events**: the channel's attributes marked `status: INACTIVE` (how Flex ends a
//!   channel), or the channel destroyed.
//! - **Ended by the customer**: the channel's `Attributes` marked `"status": "INACTIVE"`, as
//!   Flex marks it, read first so Flex's other attributes are kept.
//! - **Still live?** The channel read: marked inactive, or destroyed, is ended.

use serde_json::Value;

use super::steps::{Opening, TwilioChats, chat_name, sid_in};
use super::{ChatApi, ChatRef, Condition, EndEvent, JoinEvent, Liveness, OpenedChat};
use crate::config::ConfigError;
use crate::config::env::{Env, required_sid};
use crate::context::task;
use crate::ids::SidKind;
use crate::twilio::TwilioError;

pub const FLEX_FLOW_SID_VAR: &str = "TWILIO_FLEX_FLOW_SID";

/// Legacy mode's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The Flex Flow (`FO…`) of channel type web or custom that opens the channels.
    pub flex_flow_sid: String,
}

impl Settings {
    pub(super) fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            flex_flow_sid: required_sid(env, FLEX_FLOW_SID_VAR, SidKind::FlexFlow)?,
        })
    }
}

pub(super) const END_EVENTS: &[EndEvent] = &[
    EndEvent {
        event_type: "onChannelUpdated",
        sid_field: "ChannelSid",
        condition: Condition::AttributesStatus("inactive"),
    },
    EndEvent {
        event_type: "onChannelDestroyed",
        sid_field: "ChannelSid",
        condition: Condition::Always,
    },
];

/// Flex adds the agent as a member of the channel when they accept the task.
pub(super) const JOIN_EVENT: JoinEvent = JoinEvent {
    event_type: "onMemberAdded",
    sid_field: "ChannelSid",
};

/// Checks that the Flex Flow can take web chats. `Err` says what is wrong, for the log.
pub(super) async fn check_flex_flow(
    chats: &TwilioChats,
    settings: &Settings,
) -> Result<(), String> {
    let flex_flow_sid = &settings.flex_flow_sid;
    let url = format!("{}/v1/FlexFlows/{flex_flow_sid}", chats.hosts.flex);
    let flow = chats
        .twilio
        .get("fetch Flex Flow", &url)
        .await
        .map_err(|e| e.to_string())?;
    let channel_type = flow["channel_type"].as_str().unwrap_or("missing");
    if !matches!(channel_type, "web" | "custom") {
        return Err(format!(
            "Flex Flow {flex_flow_sid} has channel_type {channel_type}; web chats need web or custom"
        ));
    }
    if flow["enabled"].as_bool() != Some(true) {
        return Err(format!("Flex Flow {flex_flow_sid} is disabled"));
    }
    Ok(())
}

pub(super) async fn open(
    settings: &Settings,
    opening: &Opening<'_>,
) -> Result<OpenedChat, TwilioError> {
    let chats = opening.chats;
    let chat = opening.chat;
    let pre_engagement = task::to_json(&chat.task_attributes(chat.pre_engagement_data));
    let chat_name = chat_name(chat);
    let url = format!("{}/v1/Channels", chats.hosts.flex);
    let form = [
        ("FlexFlowSid", settings.flex_flow_sid.as_str()),
        ("Identity", chat.identity),
        ("ChatUserFriendlyName", chat.friendly_name),
        ("ChatFriendlyName", &chat_name),
        ("Target", chat.identity),
        ("PreEngagementData", &pre_engagement),
    ];
    let answer = match chats
        .twilio
        .create("create Flex channel", &url, &form)
        .await
    {
        Err(error @ TwilioError::OutcomeUnknown { .. }) => {
            tracing::warn!(%error, "asking Flex again for the channel of an unanswered create");
            opening.created();
            chats
                .twilio
                .create("create Flex channel", &url, &form)
                .await?
        }
        answer => answer?,
    };
    opening.created();
    let sid = sid_in("create Flex channel", &answer["sid"], SidKind::Channel)?;
    if opening.recovering {
        opening.resume(sid, None).await
    } else {
        opening.hand_over(sid, None).await
    }
}

pub(super) async fn end(chats: &TwilioChats, chat: &ChatRef<'_>) -> Result<(), TwilioError> {
    let url = chats.chat_url(ChatApi::ProgrammableChat, chat.channel_sid);
    let channel = match chats.twilio.get("fetch chat channel", &url).await {
        Ok(channel) => channel,
        // Destroyed: ended (`onChannelDestroyed` reads so).
        Err(error) if error.is_not_found() => return Ok(()),
        Err(error) => return Err(error),
    };
    let Some(attributes) = inactive_attributes(&channel["attributes"]) else {
        return Ok(());
    };
    chats
        .twilio
        .post(
            "mark chat channel inactive",
            &url,
            &[("Attributes", &attributes)],
        )
        .await
        .map(drop)
}

pub(super) async fn liveness(
    chats: &TwilioChats,
    chat: &ChatRef<'_>,
) -> Result<Liveness, TwilioError> {
    let url = chats.chat_url(ChatApi::ProgrammableChat, chat.channel_sid);
    chats
        .read_liveness("fetch chat channel", &url, |read| match read {
            Ok(channel) => inactive_attributes(&channel["attributes"]).is_none(),
            // Destroyed (`onChannelDestroyed`).
            Err(error) => error.is_not_found(),
        })
        .await
}

/// The channel's attributes (a JSON text) with `status` set to `INACTIVE`, or `None` when it is
/// inactive already. Attributes that are not a JSON object are replaced by one.
fn inactive_attributes(attributes: &Value) -> Option<String> {
    let mut object = attributes
        .as_str()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|value| match value {
            Value::Object(object) => Some(object),
            _ => None,
        })
        .unwrap_or_default();
    let inactive = object
        .get("status")
        .and_then(Value::as_str)
        .is_some_and(|status| status.eq_ignore_ascii_case("inactive"));
    if inactive {
        return None;
    }
    object.insert("status".into(), "INACTIVE".into());
    Some(Value::Object(object).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn marking_inactive_keeps_flexs_other_attributes() {
        let attributes = json!(r#"{"status":"ACTIVE","from":"Ada","channel_type":"web"}"#);
        let marked: Value =
            serde_json::from_str(&inactive_attributes(&attributes).unwrap()).unwrap();
        assert_eq!(
            marked,
            json!({"status": "INACTIVE", "from": "Ada", "channel_type": "web"})
        );
    }

    #[test]
    fn an_inactive_channel_is_left_alone_and_odd_attributes_are_replaced() {
        assert_eq!(
            inactive_attributes(&json!(r#"{"status":"inactive"}"#)),
            None
        );
        for odd in [json!("not json"), json!(r#"[1]"#), Value::Null] {
            assert_eq!(
                inactive_attributes(&odd).as_deref(),
                Some(r#"{"status":"INACTIVE"}"#),
                "{odd}"
            );
        }
    }
}
