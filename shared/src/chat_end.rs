//! The webhook events that mean a chat has ended, per Twilio chat API: the one table both the
//! filters `create-channel` registers on each chat and the reading `flex-webhook` does come from,
//! so a mode cannot register an event the webhook ignores, or wait for one it never registered.

use std::collections::HashMap;

use crate::ids::{SidKind, check_sid};

/// The Twilio chat APIs a Flex mode opens chats on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatApi {
    /// Conversations (Flex UI 2.x): `/v1/Services/{IS}/Conversations/{CH}/Webhooks`.
    Conversations,
    /// Programmable Chat (Flex UI 1.x, legacy): `/v2/Services/{IS}/Channels/{CH}/Webhooks`.
    ProgrammableChat,
}

/// When an event of an end event's type really reports an end.
#[derive(Clone, Copy, Debug)]
enum Condition {
    Always,
    /// `StateTo` names this state: Flex closes the conversation after the agent wraps up.
    StateTo(&'static str),
    /// The `Attributes` JSON has this `status` (any case): Flex marks an ended legacy channel
    /// `INACTIVE` rather than deleting it.
    AttributesStatus(&'static str),
}

struct EndEvent {
    api: ChatApi,
    event_type: &'static str,
    /// The form field carrying the chat's SID.
    sid_field: &'static str,
    condition: Condition,
}

const END_EVENTS: [EndEvent; 4] = [
    EndEvent {
        api: ChatApi::Conversations,
        event_type: "onConversationStateUpdated",
        sid_field: "ConversationSid",
        condition: Condition::StateTo("closed"),
    },
    EndEvent {
        api: ChatApi::Conversations,
        event_type: "onConversationRemoved",
        sid_field: "ConversationSid",
        condition: Condition::Always,
    },
    EndEvent {
        api: ChatApi::ProgrammableChat,
        event_type: "onChannelUpdated",
        sid_field: "ChannelSid",
        condition: Condition::AttributesStatus("inactive"),
    },
    EndEvent {
        api: ChatApi::ProgrammableChat,
        event_type: "onChannelDestroyed",
        sid_field: "ChannelSid",
        condition: Condition::Always,
    },
];

impl ChatApi {
    /// The event types to register on a chat of this API (its webhook's `Filters`).
    pub fn end_event_types(self) -> impl Iterator<Item = &'static str> {
        END_EVENTS
            .iter()
            .filter(move |event| event.api == self)
            .map(|event| event.event_type)
    }
}

/// What an event means for us.
#[derive(Debug, PartialEq, Eq)]
pub enum ChatEvent {
    /// The chat ended: the agent closed it, or it was removed.
    Ended { channel_sid: String },
    /// Anything else (messages, members, an inactive-but-not-closed state): acknowledged only.
    Other,
}

/// Reads a webhook's fields; `Err` says what is malformed (never echoing a value).
pub fn classify(fields: &HashMap<String, String>) -> Result<ChatEvent, String> {
    let field = |name: &str| fields.get(name).map(String::as_str);
    let event_type = field("EventType").ok_or("EventType is missing")?;
    let Some(event) = END_EVENTS.iter().find(|e| e.event_type == event_type) else {
        return Ok(ChatEvent::Other);
    };
    let ended = match event.condition {
        Condition::Always => true,
        Condition::StateTo(state) => field("StateTo") == Some(state),
        Condition::AttributesStatus(status) => {
            let attributes: serde_json::Value =
                serde_json::from_str(field("Attributes").unwrap_or("{}"))
                    .map_err(|_| "Attributes is not JSON")?;
            attributes["status"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(status))
        }
    };
    if !ended {
        return Ok(ChatEvent::Other);
    }
    let sid = field(event.sid_field).unwrap_or_default();
    check_sid(SidKind::Channel, sid).map_err(|reason| format!("{} {reason}", event.sid_field))?;
    Ok(ChatEvent::Ended {
        channel_sid: sid.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_registers_exactly_the_events_that_can_end_its_chats() {
        assert_eq!(
            ChatApi::Conversations.end_event_types().collect::<Vec<_>>(),
            ["onConversationStateUpdated", "onConversationRemoved"]
        );
        assert_eq!(
            ChatApi::ProgrammableChat
                .end_event_types()
                .collect::<Vec<_>>(),
            ["onChannelUpdated", "onChannelDestroyed"]
        );
    }

    #[test]
    fn every_registered_event_can_be_read_as_an_end() {
        const CH: &str = "CH00000000000000000000000000000001";
        for event in &END_EVENTS {
            let mut fields = HashMap::from([
                ("EventType".to_owned(), event.event_type.to_owned()),
                (event.sid_field.to_owned(), CH.to_owned()),
            ]);
            match event.condition {
                Condition::Always => {}
                Condition::StateTo(state) => {
                    fields.insert("StateTo".into(), state.into());
                }
                Condition::AttributesStatus(status) => {
                    fields.insert("Attributes".into(), format!(r#"{{"status":"{status}"}}"#));
                }
            }
            assert_eq!(
                classify(&fields),
                Ok(ChatEvent::Ended {
                    channel_sid: CH.into()
                }),
                "{}",
                event.event_type
            );
        }
    }
}
