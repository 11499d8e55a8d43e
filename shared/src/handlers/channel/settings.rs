//! `create-channel`'s own settings: the Flex mode chats open in (each mode parses its own
//! settings: [`crate::flex::ModeSettings`]), the table, the webhook URL it registers and the
//! Twilio hosts it calls. They live with the handler rather than in [`crate::config`] because
//! they hold the Flex mode's settings, and `config` sits below `flex`.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::config::credentials::{
    BOT_CONTEXT_KEY_VAR, BOT_CONTEXT_SECRET_ARN_VAR, secret_json, single_secret_from,
};
use crate::config::env::{Env, number, required};
use crate::config::limits::new_chats;
use crate::config::twilio::{TwilioHosts, twilio_deadline};
use crate::config::webhook::{connection_overrides, registered_url, webhook_url};
use crate::config::{
    AvailabilitySettings, CHANNELS_TABLE_VAR, ConfigError, RateLimit, closed_retention_days,
};
use crate::flex::{Flex, ModeSettings, TwilioChats};
use crate::twilio::TwilioClient;

pub const LIVENESS_CHECK_AFTER_VAR: &str = "LIVENESS_CHECK_AFTER_SECONDS";
/// A reused chat confirmed live longer ago than this is checked with Twilio first.
pub const DEFAULT_LIVENESS_CHECK_AFTER_SECONDS: u32 = 60;

/// What `create-channel` needs beyond [`super::Settings`].
#[derive(Clone, Debug)]
pub struct ChannelSettings {
    pub mode: ModeSettings,
    pub table: String,
    pub closed_retention_days: u32,
    /// Public URL of `POST /twilio/webhook` with its connection overrides as the fragment,
    /// registered on every new chat.
    pub webhook_url: String,
    pub hosts: TwilioHosts,
    /// All Twilio calls of one request, retries included, finish within this.
    pub twilio_deadline: Duration,
    /// A reuse press asks Twilio whether the chat is still live when the chat was last
    /// confirmed live more than this many seconds ago (0: on every reuse).
    pub liveness_check_after_seconds: u32,
    /// New chats per client (source network).
    pub new_chats: RateLimit,
    /// The key the bot's backend signs contexts with (`contextToken`); without it every
    /// context is shown to the agent as customer-provided, and a `contextToken` is refused.
    pub bot_context_key: Option<SecretString>,
    /// The queue chats are routed to: its opening hours gate new chats, and `GET
    /// /availability` describes it.
    pub availability: AvailabilitySettings,
}

impl ChannelSettings {
    /// From the environment, and the bot context key from Secrets Manager when
    /// `BOT_CONTEXT_SECRET_ARN` is set.
    pub async fn load() -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let json = secret_json(&env, BOT_CONTEXT_SECRET_ARN_VAR).await?;
        Self::from_sources(env, json.as_deref())
    }

    /// From an environment lookup alone (local runs and tests).
    pub fn from_env(env: impl Env) -> Result<Self, ConfigError> {
        Self::from_sources(env, None)
    }

    pub fn from_sources(env: impl Env, bot_secret_json: Option<&str>) -> Result<Self, ConfigError> {
        let mode = ModeSettings::from_env(&env)?;
        let webhook_url =
            registered_url(&webhook_url(&env)?, connection_overrides(&env)?.as_deref());
        Ok(Self {
            mode,
            table: required(&env, CHANNELS_TABLE_VAR)?,
            closed_retention_days: closed_retention_days(&env)?,
            webhook_url,
            hosts: TwilioHosts::from_env(&env)?,
            twilio_deadline: twilio_deadline(&env)?,
            liveness_check_after_seconds: number(
                &env,
                LIVENESS_CHECK_AFTER_VAR,
                DEFAULT_LIVENESS_CHECK_AFTER_SECONDS,
                0..=86_400,
            )?,
            new_chats: new_chats(&env)?,
            bot_context_key: bot_context_key(&env, bot_secret_json)?,
            availability: AvailabilitySettings::from_env(&env)?,
        })
    }

    /// The Flex these settings describe, calling Twilio through `twilio` in the account's chat
    /// service `chat_service_sid`.
    pub fn flex(&self, twilio: TwilioClient, chat_service_sid: &str) -> Flex {
        let chats = TwilioChats::new(twilio, self.hosts.clone(), chat_service_sid);
        Flex::new(chats, self.mode.clone(), &self.webhook_url)
    }
}

/// The bot context key: at least [`MIN_BOT_CONTEXT_KEY_BYTES`], as RFC 7518 asks of an HS256
/// key, so a short shared secret fails the cold start rather than weakening every handoff.
fn bot_context_key(
    env: &impl Env,
    secret_json: Option<&str>,
) -> Result<Option<SecretString>, ConfigError> {
    let key = single_secret_from(
        env,
        BOT_CONTEXT_SECRET_ARN_VAR,
        BOT_CONTEXT_KEY_VAR,
        secret_json,
    )?;
    if key
        .as_ref()
        .is_some_and(|key| key.expose_secret().len() < MIN_BOT_CONTEXT_KEY_BYTES)
    {
        return Err(ConfigError::Invalid {
            var: BOT_CONTEXT_KEY_VAR,
            reason: format!("must be at least {MIN_BOT_CONTEXT_KEY_BYTES} bytes"),
        });
    }
    Ok(key)
}

/// RFC 7518 §3.2: an HS256 key at least as long as the hash.
pub const MIN_BOT_CONTEXT_KEY_BYTES: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::twilio::{CHAT_API_URL_VAR, FLEX_API_URL_VAR, TWILIO_DEADLINE_MS_VAR};
    use crate::config::webhook::CONNECTION_OVERRIDES_VAR;
    use crate::config::{CLOSED_RETENTION_DAYS_VAR, WEBHOOK_URL_VAR};
    use crate::flex::conversations::{self, FLEX_ADDRESS_SID_VAR};
    use crate::flex::interactions::{
        self, CLOSED_AFTER_MINUTES_VAR, INACTIVE_AFTER_MINUTES_VAR, TASK_CHANNEL_VAR,
        WORKFLOW_SID_VAR, WORKSPACE_SID_VAR,
    };
    use crate::flex::legacy::{self, FLEX_FLOW_SID_VAR};
    use crate::flex::{FLEX_MODE_VAR, FlexMode};
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
            ModeSettings::Conversations(conversations::Settings {
                address_sid: "IG00000000000000000000000000000004".into()
            })
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
        assert_eq!(settings.liveness_check_after_seconds, 60);
        // Twilio retries a failed chat-end webhook: the overrides ride on the registered URL.
        assert_eq!(
            settings.webhook_url,
            "https://api.example.com/twilio/webhook#rc=3&rp=all"
        );
        let mut env = channel_env();
        env.insert(CONNECTION_OVERRIDES_VAR, String::new());
        env.insert(LIVENESS_CHECK_AFTER_VAR, "0".into());
        let settings = load_channel(&env).unwrap();
        assert_eq!(
            settings.webhook_url,
            "https://api.example.com/twilio/webhook"
        );
        assert_eq!(settings.liveness_check_after_seconds, 0);
    }

    #[test]
    fn legacy_mode_needs_a_flex_flow_and_hosts_can_be_overridden() {
        let mut env = channel_env();
        env.insert(FLEX_MODE_VAR, "chat".into());
        env.insert(FLEX_API_URL_VAR, "http://127.0.0.1:4010/".into());
        let settings = load_channel(&env).unwrap();
        assert_eq!(
            settings.mode,
            ModeSettings::Chat(legacy::Settings {
                flex_flow_sid: "FO00000000000000000000000000000005".into()
            })
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
            ModeSettings::Interactions(interactions::Settings {
                workspace_sid: format!("WS{}", "1".repeat(32)),
                workflow_sid: format!("WW{}", "2".repeat(32)),
                task_channel: "chat".into(),
                inactive_after_minutes: 30,
                closed_after_minutes: 720,
            })
        );
        assert_eq!(settings.mode.mode(), FlexMode::Interactions);
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
            (LIVENESS_CHECK_AFTER_VAR, "86401"),
            (CONNECTION_OVERRIDES_VAR, "rc=9"),
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
