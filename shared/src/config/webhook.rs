//! `flex-webhook`'s own settings.

use super::env::{Env, required, required_url};
use super::{CHANNELS_TABLE_VAR, ConfigError, WEBHOOK_URL_VAR, closed_retention_days};

/// What `flex-webhook` needs beyond [`super::Settings`].
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub table: String,
    pub closed_retention_days: u32,
    /// The public URL Twilio calls and signs (the one `create-channel` registers).
    pub public_url: String,
}

impl WebhookSettings {
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(|name| std::env::var(name).ok())
    }

    pub fn from_env(env: impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            public_url: required_url(&env, WEBHOOK_URL_VAR)?,
            table: required(&env, CHANNELS_TABLE_VAR)?,
            closed_retention_days: closed_retention_days(&env)?,
        })
    }
}
