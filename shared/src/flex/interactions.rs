//! Interactions mode: Flex UI 2.x with our own chat client, as Twilio's "Integrate a Custom Chat
//! Client with Flex" describes.
//!
//! - **Open**: `POST ConversationWithParticipants` under the handoff's unique name → (chat-end
//!   webhook ‖ first history message) → the other history messages → `POST /v1/Interactions`,
//!   which makes the task: the agent finds the history in place when accepting it.
//! - **Found again**: the conversation by its unique name (a repeat create fails with 409 rather
//!   than making a second); the Interaction by its TaskRouter task (`handoffId`), never created
//!   twice in one request, since its task comes after its answer.
//! - **End events**: those of any conversation ([`super::conversations`]): when the agent
//!   completes the task, Flex removes the agent and closes the conversation.
//! - **Ended by the customer**: the Interaction channel `closed` with
//!   `Routing={"status":"closed"}`, which completes its task (without it Flex leaves the task
//!   wrapping), then the conversation closed.
//! - **Still live?** Its conversation read: Flex closes it when the agent completes the task.

use serde_json::{Map, Value, json};

use super::conversations::{close_conversation, conversation_liveness};
use super::steps::{Opening, TwilioChats, chat_name, sid_in};
use super::{ChatApi, ChatRef, InteractionSids, Liveness, NewChat, OpenedChat};
use crate::config::ConfigError;
use crate::config::env::{Env, number, required_sid};
use crate::context::task;
use crate::ids::{SidKind, check_sid};
use crate::twilio::TwilioError;

pub use crate::config::availability::WORKSPACE_SID_VAR;
pub const WORKFLOW_SID_VAR: &str = "TWILIO_WORKFLOW_SID";
pub const TASK_CHANNEL_VAR: &str = "TWILIO_TASK_CHANNEL";
pub const INACTIVE_AFTER_MINUTES_VAR: &str = "CONVERSATION_INACTIVE_AFTER_MINUTES";
pub const CLOSED_AFTER_MINUTES_VAR: &str = "CONVERSATION_CLOSED_AFTER_MINUTES";

/// Where interactions mode routes its tasks, and when its abandoned conversations end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub workspace_sid: String,
    pub workflow_sid: String,
    /// The TaskRouter task channel's unique name (`chat` in a stock Flex workspace).
    pub task_channel: String,
    /// Minutes without activity before the conversation turns `inactive` (Twilio: >= 1).
    pub inactive_after_minutes: u32,
    /// Minutes without activity before it is `closed` (Twilio: >= 10), which ends the chat.
    pub closed_after_minutes: u32,
}

impl Settings {
    pub(super) fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let task_channel = env(TASK_CHANNEL_VAR)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "chat".to_owned());
        let valid_channel = task_channel.len() <= 64
            && task_channel
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
        if !valid_channel {
            return Err(ConfigError::Invalid {
                var: TASK_CHANNEL_VAR,
                reason: "must be a task channel unique name: up to 64 of [A-Za-z0-9_-]".into(),
            });
        }
        Ok(Self {
            workspace_sid: required_sid(env, WORKSPACE_SID_VAR, SidKind::Workspace)?,
            workflow_sid: required_sid(env, WORKFLOW_SID_VAR, SidKind::Workflow)?,
            task_channel,
            // Long enough for a customer who steps away; an abandoned chat ends within a day.
            inactive_after_minutes: number(env, INACTIVE_AFTER_MINUTES_VAR, 30, 1..=10_080)?,
            closed_after_minutes: number(env, CLOSED_AFTER_MINUTES_VAR, 720, 10..=43_200)?,
        })
    }
}

/// What a task lookup found.
enum ExistingTask {
    None,
    /// A task for the handoff exists; its attributes name the Interaction when Flex made it.
    Found(Option<InteractionSids>),
}

pub(super) async fn open(
    settings: &Settings,
    opening: &Opening<'_>,
) -> Result<OpenedChat, TwilioError> {
    let chats = opening.chats;
    let chat = opening.chat;
    let existing = if opening.recovering {
        match conversation_named(chats, chat.handoff_id).await? {
            Named::Open(sid) => Some(sid),
            Named::Missing => None,
            // The dead request's chat has ended since (its timers, or an agent): nothing to
            // complete, and its name cannot be used again.
            Named::Closed => return Err(opening.handoff_ended()),
        }
    } else {
        None
    };
    let Some(sid) = existing else {
        let sid = create_conversation(chats, settings, opening).await?;
        opening.created();
        let opened = opening.hand_over(sid, None).await?;
        let interaction = interaction_for(chats, settings, &opened.channel_sid, chat).await?;
        return Ok(OpenedChat {
            interaction,
            ..opened
        });
    };
    tracing::warn!(channel_sid = %sid, "completing a conversation a request that did not finish created");
    let interaction = match task_for(chats, settings, chat.handoff_id).await? {
        ExistingTask::Found(interaction) => interaction,
        ExistingTask::None => {
            // Its history goes in before the task exists, as on the first attempt.
            let resumed = opening.resume(sid.clone(), None).await?;
            let interaction = interaction_for(chats, settings, &sid, chat).await?;
            return Ok(OpenedChat {
                interaction,
                ..resumed
            });
        }
    };
    opening.resume(sid, interaction).await
}

/// `POST ConversationWithParticipants` under the handoff's unique name. Twilio refuses a second
/// conversation of the same name (409), so the call may be repeated; after any failure that may
/// hide a success, the conversation is fetched by that name.
async fn create_conversation(
    chats: &TwilioChats,
    settings: &Settings,
    opening: &Opening<'_>,
) -> Result<String, TwilioError> {
    let what = "create conversation";
    let chat = opening.chat;
    let mut attributes = Map::new();
    attributes.insert("handoffId".into(), chat.handoff_id.into());
    let facts = chat.context.facts();
    if !facts.is_empty() {
        attributes.insert("context".into(), Value::Object(facts));
    }
    let participant = json!({ "identity": chat.identity }).to_string();
    let inactive = format!("PT{}M", settings.inactive_after_minutes);
    let closed = format!("PT{}M", settings.closed_after_minutes);
    let chat_name = chat_name(chat);
    let created = chats
        .twilio
        .post(
            what,
            &format!(
                "{}/v1/Services/{}/ConversationWithParticipants",
                chats.hosts.conversations, chats.chat_service_sid
            ),
            &[
                ("FriendlyName", &chat_name),
                ("UniqueName", chat.handoff_id),
                ("Attributes", &task::to_json(&attributes)),
                ("Participant", &participant),
                ("Timers.Inactive", &inactive),
                ("Timers.Closed", &closed),
            ],
        )
        .await;
    let error = match created {
        Ok(created) => return sid_in(what, &created["sid"], SidKind::Channel),
        Err(
            error @ (TwilioError::Rejected { status: 409, .. }
            | TwilioError::Unavailable { .. }
            | TwilioError::Timeout { .. }),
        ) => error,
        Err(error) => return Err(error),
    };
    match conversation_named(chats, chat.handoff_id).await {
        Ok(Named::Open(sid)) => {
            tracing::warn!(channel_sid = %sid, %error, "found the conversation an unanswered create made");
            Ok(sid)
        }
        // The name is taken by a conversation that has ended: this handoff cannot be opened.
        Ok(Named::Closed) => Err(opening.handoff_ended()),
        Ok(Named::Missing) if matches!(error, TwilioError::Rejected { .. }) => Err(error),
        Ok(Named::Missing) | Err(_) => Err(TwilioError::OutcomeUnknown {
            what,
            reason: error.to_string(),
        }),
    }
}

/// What holds a handoff's unique name.
enum Named {
    Missing,
    Open(String),
    /// A closed conversation keeps its unique name: no new one can take it.
    Closed,
}

/// The conversation named `handoff_id`, and whether it is still open.
async fn conversation_named(chats: &TwilioChats, handoff_id: &str) -> Result<Named, TwilioError> {
    let what = "fetch conversation by unique name";
    let name: String = url::form_urlencoded::byte_serialize(handoff_id.as_bytes()).collect();
    let url = chats.chat_url(ChatApi::Conversations, &name);
    match chats.twilio.get(what, &url).await {
        Ok(conversation) if conversation["state"] == "closed" => Ok(Named::Closed),
        Ok(conversation) => sid_in(what, &conversation["sid"], SidKind::Channel).map(Named::Open),
        Err(error) if error.is_not_found() => Ok(Named::Missing),
        Err(error) => Err(error),
    }
}

/// The conversation's Interaction, created at most once. After a lost answer the task it made
/// is looked for; Interactions answers before Flex makes the task, so finding none proves
/// nothing and the failure stands (the claim stays and the press after its lease looks again).
/// `None`: a task exists whose attributes do not name its Interaction.
async fn interaction_for(
    chats: &TwilioChats,
    settings: &Settings,
    conversation_sid: &str,
    chat: &NewChat<'_>,
) -> Result<Option<InteractionSids>, TwilioError> {
    match create_interaction(chats, settings, conversation_sid, chat).await {
        Ok(interaction) => Ok(Some(interaction)),
        Err(error @ TwilioError::OutcomeUnknown { .. }) => {
            match task_for(chats, settings, chat.handoff_id).await {
                Ok(ExistingTask::Found(interaction)) => {
                    tracing::warn!(%error, "found the task an unanswered interaction made");
                    Ok(interaction)
                }
                Ok(ExistingTask::None) | Err(_) => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

/// `POST /v1/Interactions`: the task, routed with the context's facts.
async fn create_interaction(
    chats: &TwilioChats,
    settings: &Settings,
    conversation_sid: &str,
    chat: &NewChat<'_>,
) -> Result<InteractionSids, TwilioError> {
    let what = "create interaction";
    let mut base = Map::new();
    base.insert("handoffId".into(), chat.handoff_id.into());
    base.insert("customerName".into(), chat.friendly_name.into());
    base.insert("from".into(), chat.friendly_name.into());
    let channel = json!({
        "type": "web",
        "initiated_by": "customer",
        "properties": { "media_channel_sid": conversation_sid },
    });
    let routing = json!({
        "type": "TaskRouter",
        "properties": {
            "workspace_sid": settings.workspace_sid,
            "workflow_sid": settings.workflow_sid,
            "task_channel_unique_name": settings.task_channel,
            "attributes": chat.task_attributes(&base),
        },
    });
    let created = chats
        .twilio
        .create(
            what,
            &format!("{}/v1/Interactions", chats.hosts.flex),
            &[
                ("Channel", &channel.to_string()),
                ("Routing", &routing.to_string()),
            ],
        )
        .await?;
    Ok(InteractionSids {
        interaction_sid: sid_in(what, &created["sid"], SidKind::Interaction)?,
        channel_sid: sid_in(
            what,
            &created["channel"]["sid"],
            SidKind::InteractionChannel,
        )?,
    })
}

/// The task a dead request's Interaction made for `handoff_id`, found by its attributes.
async fn task_for(
    chats: &TwilioChats,
    settings: &Settings,
    handoff_id: &str,
) -> Result<ExistingTask, TwilioError> {
    let what = "list tasks of the handoff";
    let url = chats.url_with(
        what,
        &format!(
            "{}/v1/Workspaces/{}/Tasks",
            chats.hosts.taskrouter, settings.workspace_sid
        ),
        &[
            (
                "EvaluateTaskAttributes",
                &format!("handoffId == \"{handoff_id}\""),
            ),
            ("PageSize", "20"),
        ],
    )?;
    let listed = chats.twilio.get(what, &url).await?;
    let Some(task) = listed["tasks"].as_array().and_then(|tasks| tasks.first()) else {
        return Ok(ExistingTask::None);
    };
    let attributes: Value = task["attributes"]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    let sid = |name: &str, kind: SidKind| {
        attributes[name]
            .as_str()
            .filter(|sid| check_sid(kind, sid).is_ok())
            .map(str::to_owned)
    };
    Ok(ExistingTask::Found(
        sid("flexInteractionSid", SidKind::Interaction)
            .zip(sid(
                "flexInteractionChannelSid",
                SidKind::InteractionChannel,
            ))
            .map(|(interaction_sid, channel_sid)| InteractionSids {
                interaction_sid,
                channel_sid,
            }),
    ))
}

pub(super) async fn end(chats: &TwilioChats, chat: &ChatRef<'_>) -> Result<(), TwilioError> {
    // A record made before its Interaction was known has no SIDs: the conversation is all
    // there is to close.
    if let Some(interaction) = chat.interaction {
        close_interaction_channel(chats, interaction).await?;
    }
    close_conversation(chats, chat.channel_sid).await
}

pub(super) async fn liveness(
    chats: &TwilioChats,
    chat: &ChatRef<'_>,
) -> Result<Liveness, TwilioError> {
    conversation_liveness(chats, chat.channel_sid).await
}

async fn close_interaction_channel(
    chats: &TwilioChats,
    interaction: &InteractionSids,
) -> Result<(), TwilioError> {
    let url = format!(
        "{}/v1/Interactions/{}/Channels/{}",
        chats.hosts.flex, interaction.interaction_sid, interaction.channel_sid
    );
    chats
        .update_to_end(
            ("close interaction channel", "fetch interaction channel"),
            &url,
            &[("Status", "closed"), ("Routing", r#"{"status":"closed"}"#)],
            |read| matches!(read, Ok(channel) if channel["status"] == "closed"),
        )
        .await
}
