//! `create-channel`'s own settings: which Flex mode opens chats (one enum variant per mode, with
//! its parsing here), the table, the webhook URL it registers and the Twilio hosts it calls.

use std::time::Duration;

use super::ConfigError;
use super::env::{Env, check_url, number, required, required_sid, required_url};
use super::{CHANNELS_TABLE_VAR, WEBHOOK_URL_VAR, closed_retention_days};
use crate::chat_end::ChatApi;
use crate::ids::SidKind;

pub const FLEX_MODE_VAR: &str = "FLEX_MODE";
pub const FLEX_ADDRESS_SID_VAR: &str = "TWILIO_FLEX_ADDRESS_SID";
pub const FLEX_FLOW_SID_VAR: &str = "TWILIO_FLEX_FLOW_SID";
pub const FLEX_API_URL_VAR: &str = "TWILIO_FLEX_API_URL";
pub const CHAT_API_URL_VAR: &str = "TWILIO_CHAT_API_URL";
pub const CONVERSATIONS_API_URL_VAR: &str = "TWILIO_CONVERSATIONS_API_URL";
pub const TASKROUTER_API_URL_VAR: &str = "TWILIO_TASKROUTER_API_URL";
pub const TWILIO_DEADLINE_MS_VAR: &str = "TWILIO_DEADLINE_MS";
pub const WORKSPACE_SID_VAR: &str = "TWILIO_WORKSPACE_SID";
pub const WORKFLOW_SID_VAR: &str = "TWILIO_WORKFLOW_SID";
pub const TASK_CHANNEL_VAR: &str = "TWILIO_TASK_CHANNEL";
pub const INACTIVE_AFTER_MINUTES_VAR: &str = "CONVERSATION_INACTIVE_AFTER_MINUTES";
pub const CLOSED_AFTER_MINUTES_VAR: &str = "CONVERSATION_CLOSED_AFTER_MINUTES";

/// Which Flex generation chats are opened in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlexMode {
    /// Flex UI 2.x: `POST /v2/WebChats` with a Conversations Address (`IG…`).
    Conversations { address_sid: String },
    /// Flex UI 2.x with our own chat client: a Conversation with the customer as participant,
    /// then `POST /v1/Interactions` creates the task.
    Interactions(InteractionsRouting),
    /// Flex UI 1.x, Programmable Chat (end of life 2026-06-01): `POST /v1/Channels` with a Flex Flow.
    Chat { flex_flow_sid: String },
}

/// Where interactions mode routes its tasks, and when its abandoned conversations end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InteractionsRouting {
    pub workspace_sid: String,
    pub workflow_sid: String,
    /// The TaskRouter task channel's unique name (`chat` in a stock Flex workspace).
    pub task_channel: String,
    /// Minutes without activity before the conversation turns `inactive` (Twilio: >= 1).
    pub inactive_after_minutes: u32,
    /// Minutes without activity before it is `closed` (Twilio: >= 10), which ends the chat.
    pub closed_after_minutes: u32,
}

impl InteractionsRouting {
    fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
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

impl FlexMode {
    pub fn name(&self) -> &'static str {
        match self {
            FlexMode::Conversations { .. } => "conversations",
            FlexMode::Interactions(_) => "interactions",
            FlexMode::Chat { .. } => "chat",
        }
    }

    /// `FLEX_MODE` (default `conversations`) and the variables that mode needs.
    fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        match env(FLEX_MODE_VAR).as_deref().map(str::trim) {
            None | Some("") | Some("conversations") => Ok(FlexMode::Conversations {
                address_sid: required_sid(
                    env,
                    FLEX_ADDRESS_SID_VAR,
                    SidKind::ConversationsAddress,
                )?,
            }),
            Some("interactions") => Ok(FlexMode::Interactions(InteractionsRouting::from_env(env)?)),
            Some("chat") => Ok(FlexMode::Chat {
                flex_flow_sid: required_sid(env, FLEX_FLOW_SID_VAR, SidKind::FlexFlow)?,
            }),
            Some(_) => Err(ConfigError::Invalid {
                var: FLEX_MODE_VAR,
                reason: "must be conversations, interactions or chat".into(),
            }),
        }
    }
}

/// Base URLs of the Twilio hosts we call; overridable so tests and the local stack use local servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioHosts {
    pub flex: String,
    pub chat: String,
    pub conversations: String,
    pub taskrouter: String,
}

impl TwilioHosts {
    /// One chat's own resource in its chat API: `…/Conversations/{CH}` or `…/Channels/{CH}`.
    pub fn chat_url(&self, api: ChatApi, chat_service_sid: &str, sid: &str) -> String {
        match api {
            ChatApi::Conversations => format!(
                "{}/v1/Services/{chat_service_sid}/Conversations/{sid}",
                self.conversations
            ),
            ChatApi::ProgrammableChat => {
                format!(
                    "{}/v2/Services/{chat_service_sid}/Channels/{sid}",
                    self.chat
                )
            }
        }
    }

    pub(super) fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let host = |var: &'static str, default: &str| -> Result<String, ConfigError> {
            let url = env(var)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned());
            check_url(var, &url)?;
            Ok(url.trim_end_matches('/').to_owned())
        };
        Ok(Self {
            flex: host(FLEX_API_URL_VAR, "https://flex-api.twilio.com")?,
            chat: host(CHAT_API_URL_VAR, "https://chat.twilio.com")?,
            conversations: host(
                CONVERSATIONS_API_URL_VAR,
                "https://conversations.twilio.com",
            )?,
            taskrouter: host(TASKROUTER_API_URL_VAR, "https://taskrouter.twilio.com")?,
        })
    }
}

/// What `create-channel` needs beyond [`super::Settings`].
#[derive(Clone, Debug)]
pub struct ChannelSettings {
    pub mode: FlexMode,
    pub table: String,
    pub closed_retention_days: u32,
    /// Public URL of `POST /twilio/webhook`, registered on every new chat.
    pub webhook_url: String,
    pub hosts: TwilioHosts,
    /// All Twilio calls of one request, retries included, finish within this.
    pub twilio_deadline: Duration,
}

impl ChannelSettings {
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(|name| std::env::var(name).ok())
    }

    pub fn from_env(env: impl Env) -> Result<Self, ConfigError> {
        let mode = FlexMode::from_env(&env)?;
        let webhook_url = required_url(&env, WEBHOOK_URL_VAR)?;
        Ok(Self {
            mode,
            table: required(&env, CHANNELS_TABLE_VAR)?,
            closed_retention_days: closed_retention_days(&env)?,
            webhook_url,
            hosts: TwilioHosts::from_env(&env)?,
            twilio_deadline: twilio_deadline(&env)?,
        })
    }
}

/// `TWILIO_DEADLINE_MS`: how long each Twilio call may take, its retries included.
pub(super) fn twilio_deadline(env: &impl Env) -> Result<Duration, ConfigError> {
    Ok(Duration::from_millis(u64::from(number(
        env,
        TWILIO_DEADLINE_MS_VAR,
        6000,
        500..=60_000,
    )?)))
}

#[cfg(test)]
mod tests {
    use super::super::CLOSED_RETENTION_DAYS_VAR;
    use super::*;
    use std::collections::HashMap;

    fn channel_env() -> HashMap<&'static str, String> {
        HashMap::from([
            (
                FLEX_ADDRESS_SID_VAR,
                "IG00000000000000000000000000000004".to_owned(),
            ),
            (
                FLEX_FLOW_SID_VAR,
                "FO00000000000000000000000000000005".to_owned(),
            ),
            (CHANNELS_TABLE_VAR, "channels".to_owned()),
            (
                WEBHOOK_URL_VAR,
                "https://api.example.com/twilio/webhook".to_owned(),
            ),
        ])
    }

    fn load_channel(env: &HashMap<&'static str, String>) -> Result<ChannelSettings, ConfigError> {
        ChannelSettings::from_env(|name| env.get(name).cloned())
    }

    #[test]
    fn channel_settings_default_to_conversations_and_twilio_hosts() {
        let settings = load_channel(&channel_env()).unwrap();
        assert_eq!(
            settings.mode,
            FlexMode::Conversations {
                address_sid: "IG00000000000000000000000000000004".into()
            }
        );
        assert_eq!(settings.hosts.flex, "https://flex-api.twilio.com");
        assert_eq!(settings.hosts.chat, "https://chat.twilio.com");
        assert_eq!(
            settings.hosts.conversations,
            "https://conversations.twilio.com"
        );
        assert_eq!(settings.closed_retention_days, 30);
        assert_eq!(
            settings.twilio_deadline,
            std::time::Duration::from_millis(6000)
        );
    }

    #[test]
    fn legacy_mode_needs_a_flex_flow_and_hosts_can_be_overridden() {
        let mut env = channel_env();
        env.insert(FLEX_MODE_VAR, "chat".into());
        env.insert(FLEX_API_URL_VAR, "http://127.0.0.1:4010/".into());
        let settings = load_channel(&env).unwrap();
        assert_eq!(
            settings.mode,
            FlexMode::Chat {
                flex_flow_sid: "FO00000000000000000000000000000005".into()
            }
        );
        assert_eq!(
            settings.hosts.flex, "http://127.0.0.1:4010",
            "no trailing slash"
        );
        env.remove(FLEX_FLOW_SID_VAR);
        assert_eq!(
            load_channel(&env).unwrap_err(),
            ConfigError::Missing {
                var: FLEX_FLOW_SID_VAR
            }
        );
    }

    #[test]
    fn interactions_mode_needs_a_workspace_and_workflow_and_has_defaults() {
        let mut env = channel_env();
        env.insert(FLEX_MODE_VAR, "interactions".into());
        env.insert(WORKSPACE_SID_VAR, format!("WS{}", "1".repeat(32)));
        env.insert(WORKFLOW_SID_VAR, format!("WW{}", "2".repeat(32)));
        let settings = load_channel(&env).unwrap();
        assert_eq!(
            settings.mode,
            FlexMode::Interactions(InteractionsRouting {
                workspace_sid: format!("WS{}", "1".repeat(32)),
                workflow_sid: format!("WW{}", "2".repeat(32)),
                task_channel: "chat".into(),
                inactive_after_minutes: 30,
                closed_after_minutes: 720,
            })
        );
        assert_eq!(settings.mode.name(), "interactions");
        assert_eq!(settings.hosts.taskrouter, "https://taskrouter.twilio.com");
        for (var, value) in [
            (WORKSPACE_SID_VAR, "WW22222222222222222222222222222222"),
            (WORKFLOW_SID_VAR, "WS11111111111111111111111111111111"),
            (TASK_CHANNEL_VAR, "chat channel"),
            (INACTIVE_AFTER_MINUTES_VAR, "0"),
            (CLOSED_AFTER_MINUTES_VAR, "5"),
        ] {
            let mut env = env.clone();
            env.insert(var, value.into());
            assert!(
                matches!(load_channel(&env), Err(ConfigError::Invalid { var: v, .. }) if v == var),
                "{var}"
            );
        }
        for var in [WORKSPACE_SID_VAR, WORKFLOW_SID_VAR] {
            let mut env = env.clone();
            env.remove(var);
            assert_eq!(
                load_channel(&env).unwrap_err(),
                ConfigError::Missing { var }
            );
        }
    }

    #[test]
    fn channel_settings_errors_name_the_variable() {
        for (var, value) in [
            (FLEX_MODE_VAR, "programmable-chat"),
            (FLEX_ADDRESS_SID_VAR, "IS00000000000000000000000000000004"),
            (WEBHOOK_URL_VAR, "api.example.com/twilio/webhook"),
            (CHAT_API_URL_VAR, "ftp://chat"),
            (CLOSED_RETENTION_DAYS_VAR, "0"),
            (TWILIO_DEADLINE_MS_VAR, "100"),
        ] {
            let mut env = channel_env();
            env.insert(var, value.into());
            assert!(
                matches!(load_channel(&env), Err(ConfigError::Invalid { var: v, .. }) if v == var),
                "{var}"
            );
        }
        for var in [CHANNELS_TABLE_VAR, WEBHOOK_URL_VAR, FLEX_ADDRESS_SID_VAR] {
            let mut env = channel_env();
            env.remove(var);
            assert_eq!(
                load_channel(&env).unwrap_err(),
                ConfigError::Missing { var }
            );
        }
    }
}
