//! Where the Twilio APIs are and how long a call may take: shared by the functions that call
//! Twilio (`create-channel`, `chat-graphql`).

use std::time::Duration;

use super::ConfigError;
use super::env::{Env, check_url, number};

pub const FLEX_API_URL_VAR: &str = "TWILIO_FLEX_API_URL";
pub const CHAT_API_URL_VAR: &str = "TWILIO_CHAT_API_URL";
pub const CONVERSATIONS_API_URL_VAR: &str = "TWILIO_CONVERSATIONS_API_URL";
pub const TASKROUTER_API_URL_VAR: &str = "TWILIO_TASKROUTER_API_URL";
pub const TWILIO_DEADLINE_MS_VAR: &str = "TWILIO_DEADLINE_MS";

/// Base URLs of the Twilio hosts we call; overridable so tests and the local stack use local servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioHosts {
    pub flex: String,
    pub chat: String,
    pub conversations: String,
    pub taskrouter: String,
}

impl TwilioHosts {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
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

/// `TWILIO_DEADLINE_MS`: how long each Twilio call may take, its retries included.
pub fn twilio_deadline(env: &impl Env) -> Result<Duration, ConfigError> {
    Ok(Duration::from_millis(u64::from(number(
        env,
        TWILIO_DEADLINE_MS_VAR,
        6000,
        500..=60_000,
    )?)))
}
