//! `create-channel`'s own settings: which Flex mode opens chats (one enum variant per mode, with
//! its parsing here), the table, the webhook URL it registers and the Twilio hosts it calls.

use std::time::Duration;

use super::ConfigError;
use super::env::{Env, check_url, number, required, required_sid, required_url};
use super::{CHANNELS_TABLE_VAR, WEBHOOK_URL_VAR, closed_retention_days};
use crate::ids::SidKind;

pub const FLEX_MODE_VAR: &str = "FLEX_MODE";
pub const FLEX_ADDRESS_SID_VAR: &str = "TWILIO_FLEX_ADDRESS_SID";
pub const FLEX_FLOW_SID_VAR: &str = "TWILIO_FLEX_FLOW_SID";
pub const FLEX_API_URL_VAR: &str = "TWILIO_FLEX_API_URL";
pub const CHAT_API_URL_VAR: &str = "TWILIO_CHAT_API_URL";
pub const CONVERSATIONS_API_URL_VAR: &str = "TWILIO_CONVERSATIONS_API_URL";
pub const TWILIO_DEADLINE_MS_VAR: &str = "TWILIO_DEADLINE_MS";

/// Which Flex generation chats are opened in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlexMode {
    /// Flex UI 2.x: `POST /v2/WebChats` with a Conversations Address (`IG…`).
    Conversations { address_sid: String },
    /// Flex UI 1.x, Programmable Chat (end of life 2026-06-01): `POST /v1/Channels` with a Flex Flow.
    Chat { flex_flow_sid: String },
}

impl FlexMode {
    pub fn name(&self) -> &'static str {
        match self {
            FlexMode::Conversations { .. } => "conversations",
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
            Some("chat") => Ok(FlexMode::Chat {
                flex_flow_sid: required_sid(env, FLEX_FLOW_SID_VAR, SidKind::FlexFlow)?,
            }),
            Some(_) => Err(ConfigError::Invalid {
                var: FLEX_MODE_VAR,
                reason: "must be conversations or chat".into(),
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
}

impl TwilioHosts {
    fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
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
            twilio_deadline: Duration::from_millis(u64::from(number(
                &env,
                TWILIO_DEADLINE_MS_VAR,
                6000,
                500..=60_000,
            )?)),
        })
    }
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
