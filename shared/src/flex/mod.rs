//! Twilio Flex: opening a chat so that an agent gets one task with the bot's context, reading
//! the webhook events that end chats, and ending a chat for the customer. One file per Flex
//! mode holds everything that mode knows; this file routes to them.
//!
//! - [`conversations`] (default): `POST /v2/WebChats`, Flex's own orchestration.
//! - [`interactions`]: a Conversation of our own, then `POST /v1/Interactions`.
//! - [`legacy`] (`chat`): Programmable Chat's `POST /v1/Channels` with a Flex Flow.
//! - `steps`: what every mode does alike: Twilio calls on one chat ([`TwilioChats`]), the
//!   chat-end webhook, the bot's history, SID checks.
//!
//! Each mode file has its settings, how a chat is opened, how a chat a lost answer or a dead
//! request made is found again (no create is repeated blindly: [`crate::twilio::TwilioClient::create`]), which
//! webhook events end its chats, how the customer ends one, and how Twilio is asked whether a chat
//! is still live. Adding a mode is a new file with
//! those, a variant in [`FlexMode`] and in [`ModeSettings`], and the arms the compiler then asks
//! for in this file's `match`es; the store, GraphQL, the webhook and configuration take the
//! mode from here.

pub mod conversations;
pub mod interactions;
pub mod legacy;
mod steps;
pub mod transcript;

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::config::ConfigError;
use crate::config::env::Env;
use crate::context::BotContext;
use crate::ids::{SidKind, check_sid};
use crate::twilio::TwilioError;
use steps::Opening;
pub use steps::{ChatApi, TwilioChats};

pub const FLEX_MODE_VAR: &str = "FLEX_MODE";

// What configuration names, the store records on each chat (as `as_str`, read back by `parse`),
// GraphQL shows (its doc comments are the schema's descriptions), and what decides how a chat is
// ended.
/// The Flex flow a chat was opened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum FlexMode {
    /// Flex Conversations through Twilio's web-chat orchestration.
    Conversations,
    /// Flex Conversations with a custom chat client and the Interactions API.
    Interactions,
    /// Legacy Programmable Chat (Flex UI 1.x).
    Chat,
}

/// A stored or configured mode name that no mode has.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Flex mode")]
pub struct UnknownMode(pub String);

impl FlexMode {
    pub const ALL: [FlexMode; 3] = [
        FlexMode::Conversations,
        FlexMode::Interactions,
        FlexMode::Chat,
    ];

    /// The mode's name in configuration (`FLEX_MODE`), records and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            FlexMode::Conversations => "conversations",
            FlexMode::Interactions => "interactions",
            FlexMode::Chat => "chat",
        }
    }

    /// The Twilio API its chats live in.
    pub fn chat_api(self) -> ChatApi {
        match self {
            FlexMode::Conversations | FlexMode::Interactions => ChatApi::Conversations,
            FlexMode::Chat => ChatApi::ProgrammableChat,
        }
    }

    /// The webhook events that end its chats: registered on each chat, read by the webhook.
    pub fn end_events(self) -> &'static [EndEvent] {
        match self {
            // Its chats are conversations.
            FlexMode::Conversations | FlexMode::Interactions => conversations::END_EVENTS,
            FlexMode::Chat => legacy::END_EVENTS,
        }
    }

    /// The webhook event of someone joining its chats: the agent, when Flex adds them on
    /// accepting the task. Registered with the end events; the webhook records the acceptance.
    pub fn join_event(self) -> &'static JoinEvent {
        match self {
            FlexMode::Conversations | FlexMode::Interactions => &conversations::JOIN_EVENT,
            FlexMode::Chat => &legacy::JOIN_EVENT,
        }
    }

    /// Every event registered on its chats, as `Configuration.Filters`.
    pub fn webhook_events(self) -> impl Iterator<Item = &'static str> {
        self.end_events()
            .iter()
            .map(|event| event.event_type)
            .chain([self.join_event().event_type])
    }
}

impl std::str::FromStr for FlexMode {
    type Err = UnknownMode;

    fn from_str(name: &str) -> Result<Self, UnknownMode> {
        FlexMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == name)
            .ok_or_else(|| UnknownMode(name.to_owned()))
    }
}

impl std::fmt::Display for FlexMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The mode chats are opened in, with its settings: `FLEX_MODE` and that mode's variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModeSettings {
    Conversations(conversations::Settings),
    Interactions(interactions::Settings),
    Chat(legacy::Settings),
}

impl ModeSettings {
    pub fn mode(&self) -> FlexMode {
        match self {
            ModeSettings::Conversations(_) => FlexMode::Conversations,
            ModeSettings::Interactions(_) => FlexMode::Interactions,
            ModeSettings::Chat(_) => FlexMode::Chat,
        }
    }

    /// `FLEX_MODE` (default `conversations`) and the variables that mode needs.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let name = env(FLEX_MODE_VAR)
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty());
        let mode = match name {
            None => FlexMode::Conversations,
            Some(name) => name.parse().map_err(|_| ConfigError::Invalid {
                var: FLEX_MODE_VAR,
                reason: format!(
                    "must be one of {}",
                    FlexMode::ALL.map(FlexMode::as_str).join(", ")
                ),
            })?,
        };
        Ok(match mode {
            FlexMode::Conversations => {
                ModeSettings::Conversations(conversations::Settings::from_env(env)?)
            }
            FlexMode::Interactions => {
                ModeSettings::Interactions(interactions::Settings::from_env(env)?)
            }
            FlexMode::Chat => ModeSettings::Chat(legacy::Settings::from_env(env)?),
        })
    }
}

/// What the agent sees of a new chat.
pub struct NewChat<'a> {
    pub identity: &'a str,
    pub friendly_name: &'a str,
    /// Whether `friendly_name` is the identity provider's (the authorizer's `name` claim)
    /// rather than what the request said.
    pub name_verified: bool,
    /// The caller's `preEngagementData`, at most
    /// [`crate::context::task::MAX_PRE_ENGAGEMENT_BYTES`] of JSON.
    pub pre_engagement_data: &'a Map<String, Value>,
    pub context: &'a BotContext,
    /// The handoff's unique name: the Conversation's `UniqueName` and a task attribute in
    /// interactions mode, so what a request made can be found by the one that takes over.
    pub handoff_id: &'a str,
}

impl NewChat<'_> {
    /// The task's attributes: `base`, whether the name is verified (`customerNameVerified`,
    /// set after `base` so a request cannot claim it), and the context fitted to the budget.
    pub fn task_attributes(&self, base: &Map<String, Value>) -> Map<String, Value> {
        let mut base = base.clone();
        base.insert("customerNameVerified".into(), self.name_verified.into());
        crate::context::task::fit(&base, self.context)
    }
}

/// Interactions mode: the Interaction (`KD…`) and its channel (`UO…`), which ending it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InteractionSids {
    pub interaction_sid: String,
    pub channel_sid: String,
}

/// A chat Flex now has.
#[derive(Debug, PartialEq, Eq)]
pub struct OpenedChat {
    /// The channel (legacy) or conversation SID.
    pub channel_sid: String,
    pub interaction: Option<InteractionSids>,
    /// Whether every history message reached the chat; the chat is usable either way.
    pub context_delivered: bool,
}

/// Why a chat could not be opened, and whether Twilio may hold it anyway.
#[derive(Debug)]
pub struct OpenFailure {
    pub error: TwilioError,
    /// Twilio may have made the chat: a create's answer was lost, a step after the create
    /// failed, or the request was completing a dead one's chat. The claim must then stay, so the
    /// press after its lease completes that chat instead of opening a second.
    pub chat_may_exist: bool,
    /// The handoff's name belongs to a chat that has since ended (interactions mode: a closed
    /// conversation keeps its unique name). Nothing of it is live: the caller starts a fresh
    /// handoff, under a new name.
    pub handoff_ended: bool,
}

/// A chat as Twilio knows it: what ending it takes.
pub struct ChatRef<'a> {
    pub channel_sid: &'a str,
    pub interaction: Option<&'a InteractionSids>,
}

/// Opens chats in the configured mode.
pub struct Flex {
    chats: TwilioChats,
    mode: ModeSettings,
    /// Public URL of `POST /twilio/webhook`, registered on every new chat.
    webhook_url: String,
}

impl Flex {
    pub fn new(chats: TwilioChats, mode: ModeSettings, webhook_url: &str) -> Self {
        Self {
            chats,
            mode,
            webhook_url: webhook_url.to_owned(),
        }
    }

    pub fn mode(&self) -> FlexMode {
        self.mode.mode()
    }

    /// The account's chats, for what is asked of a chat after opening it (is it still live?).
    pub fn chats(&self) -> &TwilioChats {
        &self.chats
    }

    /// What can be checked of the mode's configuration once per cold start (legacy: the Flex
    /// Flow takes web chats). `Err` says what is wrong, for the log.
    pub async fn check_configuration(&self) -> Result<(), String> {
        match &self.mode {
            ModeSettings::Chat(settings) => legacy::check_flex_flow(&self.chats, settings).await,
            ModeSettings::Conversations(_) | ModeSettings::Interactions(_) => Ok(()),
        }
    }

    /// Opens the chat so that an agent gets one task, with the bot's context on it and its
    /// history in it. `recovering`: this request took over the claim of one that did not
    /// finish, which may have opened the chat already; then that chat is completed instead.
    pub async fn open_chat(
        &self,
        chat: &NewChat<'_>,
        recovering: bool,
    ) -> Result<OpenedChat, OpenFailure> {
        let opening = Opening::new(
            &self.chats,
            self.mode(),
            &self.webhook_url,
            chat,
            recovering,
        );
        let opened = match &self.mode {
            ModeSettings::Conversations(settings) => conversations::open(settings, &opening).await,
            ModeSettings::Interactions(settings) => interactions::open(settings, &opening).await,
            ModeSettings::Chat(settings) => legacy::open(settings, &opening).await,
        };
        opened.map_err(|error| {
            let handoff_ended = opening.has_ended_handoff();
            OpenFailure {
                chat_may_exist: !handoff_ended
                    && (recovering || opening.has_created() || error.may_have_created()),
                handoff_ended,
                error,
            }
        })
    }
}

impl TwilioChats {
    /// Ends `chat` in Twilio the way `mode`, the one it was opened in, requires. Every step is
    /// an update that can be repeated, so the client's retries apply; a refused update whose
    /// chat turns out to be ended already (the agent got there first) counts as done. `Err`:
    /// the chat is still open in Twilio.
    pub async fn end(&self, mode: FlexMode, chat: &ChatRef<'_>) -> Result<(), TwilioError> {
        match mode {
            FlexMode::Conversations => conversations::end(self, chat).await,
            FlexMode::Interactions => interactions::end(self, chat).await,
            FlexMode::Chat => legacy::end(self, chat).await,
        }
    }

    /// Asks Twilio, in one read, whether `chat`, opened in `mode`, is still live. `Err`: Twilio
    /// did not say (unavailable, refused the read): nothing is known either way.
    pub async fn liveness(
        &self,
        mode: FlexMode,
        chat: &ChatRef<'_>,
    ) -> Result<Liveness, TwilioError> {
        match mode {
            FlexMode::Conversations => conversations::liveness(self, chat).await,
            FlexMode::Interactions => interactions::liveness(self, chat).await,
            FlexMode::Chat => legacy::liveness(self, chat).await,
        }
    }
}

/// What Twilio says of a chat we hold as open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Live,
    /// Closed, marked inactive or gone: the customer's next press should get a new chat.
    Ended,
}

/// When an event of an end event's type really reports an end.
#[derive(Clone, Copy, Debug)]
pub enum Condition {
    Always,
    /// `StateTo` names this state: Flex closes the conversation after the agent wraps up.
    StateTo(&'static str),
    /// The `Attributes` JSON has this `status` (any case): Flex marks an ended legacy channel
    /// `INACTIVE` rather than deleting it.
    AttributesStatus(&'static str),
}

/// A webhook event that can end a chat.
#[derive(Debug)]
pub struct EndEvent {
    pub event_type: &'static str,
    /// The form field carrying the chat's SID.
    pub sid_field: &'static str,
    pub condition: Condition,
}

/// A webhook event of someone joining a chat: a conversation's participant, a channel's member.
#[derive(Debug)]
pub struct JoinEvent {
    pub event_type: &'static str,
    /// The form field carrying the chat's SID.
    pub sid_field: &'static str,
}

/// The longest identity Twilio gives a participant (Conversations' documented limit).
pub const MAX_JOINED_IDENTITY_CHARS: usize = 256;

/// What a webhook event means for us.
#[derive(Debug, PartialEq, Eq)]
pub enum ChatEvent {
    /// The chat ended: the agent closed it, or it was removed.
    Ended { channel_sid: String },
    /// Someone with a chat identity joined: the agent accepting the task, unless `identity` is
    /// the customer's own (the webhook compares it with the chat's record).
    Joined {
        channel_sid: String,
        identity: String,
    },
    /// Anything else (messages, an SMS participant, an inactive-but-not-closed state):
    /// acknowledged only.
    Other,
}

/// Reads a webhook's fields against every mode's end events (the webhook cannot know a chat's
/// mode before reading its record); `Err` says what is malformed, never echoing a value.
pub fn classify(fields: &HashMap<String, String>) -> Result<ChatEvent, String> {
    let field = |name: &str| fields.get(name).map(String::as_str);
    let event_type = field("EventType").ok_or("EventType is missing")?;
    if let Some(join) = FlexMode::ALL
        .iter()
        .map(|mode| mode.join_event())
        .find(|e| e.event_type == event_type)
    {
        return joined(join, &field);
    }
    let Some(event) = FlexMode::ALL
        .iter()
        .flat_map(|mode| mode.end_events())
        .find(|e| e.event_type == event_type)
    else {
        return Ok(ChatEvent::Other);
    };
    let ended = match event.condition {
        Condition::Always => true,
        Condition::StateTo(state) => field("StateTo") == Some(state),
        Condition::AttributesStatus(status) => {
            let attributes: Value = serde_json::from_str(field("Attributes").unwrap_or("{}"))
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

/// A join event: `Other` for a participant without an identity (an SMS or WhatsApp address:
/// not an agent's Flex UI).
fn joined<'a>(
    join: &JoinEvent,
    field: &impl Fn(&str) -> Option<&'a str>,
) -> Result<ChatEvent, String> {
    let sid = field(join.sid_field).unwrap_or_default();
    check_sid(SidKind::Channel, sid).map_err(|reason| format!("{} {reason}", join.sid_field))?;
    let identity = field("Identity").unwrap_or_default();
    if identity.is_empty() {
        return Ok(ChatEvent::Other);
    }
    if identity.chars().count() > MAX_JOINED_IDENTITY_CHARS {
        return Err(format!(
            "Identity is longer than {MAX_JOINED_IDENTITY_CHARS} characters"
        ));
    }
    Ok(ChatEvent::Joined {
        channel_sid: sid.to_owned(),
        identity: identity.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_is_stored_by_its_name_and_read_back_and_nothing_else_reads() {
        for mode in FlexMode::ALL {
            assert_eq!(mode.as_str().parse(), Ok(mode));
            assert_eq!(mode.to_string(), mode.as_str());
        }
        for stored in ["", "Conversations", "programmable-chat", "chat "] {
            assert_eq!(
                stored.parse::<FlexMode>(),
                Err(UnknownMode(stored.to_owned()))
            );
        }
    }

    #[test]
    fn each_mode_registers_exactly_the_events_that_end_its_chats_and_the_agent_joining() {
        let events = |mode: FlexMode| -> Vec<_> { mode.webhook_events().collect() };
        let conversation = [
            "onConversationStateUpdated",
            "onConversationRemoved",
            "onParticipantAdded",
        ];
        assert_eq!(events(FlexMode::Conversations), conversation);
        assert_eq!(events(FlexMode::Interactions), conversation);
        assert_eq!(
            events(FlexMode::Chat),
            ["onChannelUpdated", "onChannelDestroyed", "onMemberAdded"]
        );
    }

    #[test]
    fn a_join_with_an_identity_is_read_and_one_without_is_acknowledged_only() {
        const CH: &str = "CH00000000000000000000000000000001";
        for mode in FlexMode::ALL {
            let join = mode.join_event();
            let fields = |identity: Option<&str>| {
                let mut fields = HashMap::from([
                    ("EventType".to_owned(), join.event_type.to_owned()),
                    (join.sid_field.to_owned(), CH.to_owned()),
                ]);
                if let Some(identity) = identity {
                    fields.insert("Identity".into(), identity.into());
                }
                fields
            };
            assert_eq!(
                classify(&fields(Some("agent_alex"))),
                Ok(ChatEvent::Joined {
                    channel_sid: CH.into(),
                    identity: "agent_alex".into()
                })
            );
            assert_eq!(classify(&fields(None)), Ok(ChatEvent::Other));
            assert_eq!(classify(&fields(Some(""))), Ok(ChatEvent::Other));
            let long = "a".repeat(MAX_JOINED_IDENTITY_CHARS + 1);
            assert!(classify(&fields(Some(&long))).is_err());
            let mut bad_sid = fields(Some("agent_alex"));
            bad_sid.insert(join.sid_field.to_owned(), "CH123".into());
            assert!(classify(&bad_sid).is_err());
        }
    }

    #[test]
    fn every_registered_event_can_be_read_as_an_end() {
        const CH: &str = "CH00000000000000000000000000000001";
        for event in FlexMode::ALL.iter().flat_map(|mode| mode.end_events()) {
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
