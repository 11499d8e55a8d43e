//! Typed settings, loaded once per cold start. Non-secret values come from environment
//! variables; Twilio credentials from one Secrets Manager JSON secret when `TWILIO_SECRET_ARN` is
//! set, else from environment variables (local runs). Invalid configuration fails the cold start
//! with a message naming the variable, never the value.
//!
//! - this file: what every function shares ([`Settings`]) and the one error type;
//! - [`env`]: reading one variable into a typed value;
//! - [`credentials`]: the Twilio credentials, from the environment or Secrets Manager;
//! - [`twilio`]: where the Twilio APIs are and how long a call may take;
//! - [`availability`]: which TaskRouter queue availability is answered for, and how its
//!   statistics are cached (create-channel and chat-graphql);
//! - [`webhook`], [`graphql`], [`reconcile`]: those functions' own settings. `create-channel`'s hold the Flex
//!   mode's settings, which the mode's module parses, so they live with its handler.

pub mod availability;
pub mod credentials;
pub mod env;
pub mod graphql;
pub mod limits;
pub mod reconcile;
pub mod twilio;
pub mod webhook;

pub use availability::AvailabilitySettings;
pub use credentials::TwilioCredentials;
pub use graphql::GraphqlSettings;
pub use limits::{RateLimit, TokenSettings};
pub use reconcile::ReconcileSettings;
pub use twilio::TwilioHosts;
pub use webhook::WebhookSettings;

use env::{Env, flag, number, required_sid};

use crate::ids::SidKind;

pub const CHAT_SERVICE_SID_VAR: &str = "TWILIO_CHAT_SERVICE_SID";
pub const TOKEN_TTL_VAR: &str = "TOKEN_TTL_SECONDS";
pub const ALLOW_GUESTS_VAR: &str = "ALLOW_GUESTS";
pub const CHANNELS_TABLE_VAR: &str = "CHANNELS_TABLE";
pub const CLOSED_RETENTION_DAYS_VAR: &str = "CLOSED_CHAT_RETENTION_DAYS";
pub const WEBHOOK_URL_VAR: &str = "TWILIO_WEBHOOK_URL";
pub const GUEST_MAX_AGE_VAR: &str = "GUEST_MAX_AGE_DAYS";

/// Twilio's default token lifetime.
pub const DEFAULT_TTL_SECONDS: u32 = 3600;
/// Shorter tokens would expire before the client SDK's `tokenAboutToExpire` (60 s ahead) can refresh.
pub const MIN_TTL_SECONDS: u32 = 120;
/// Twilio rejects longer-lived tokens (error 20157).
pub const MAX_TTL_SECONDS: u32 = 86_400;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is not set")]
    Missing { var: &'static str },
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("the secret named by {var} could not be read: {reason}")]
    Secret { var: &'static str, reason: String },
}

#[derive(Debug)]
pub struct Settings {
    pub twilio: TwilioCredentials,
    /// Chat (legacy) or Conversations service the token's `chat` grant names.
    pub chat_service_sid: String,
    pub token_ttl_seconds: u32,
    /// Whether callers without authorizer claims may chat as random guests.
    pub allow_guests: bool,
    /// How long one guest identity lasts; refreshing an older one makes a new guest.
    pub guest_max_age_days: u32,
}

impl Settings {
    /// Loads settings from the process environment, and the Twilio credentials from Secrets
    /// Manager when `TWILIO_SECRET_ARN` is set.
    pub async fn load() -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let secret_json = credentials::secret_json(&env, credentials::SECRET_ARN_VAR).await?;
        Self::from_sources(env, secret_json.as_deref())
    }

    /// Builds settings from an environment lookup and, when given, the secret's JSON text.
    pub fn from_sources(env: impl Env, secret_json: Option<&str>) -> Result<Self, ConfigError> {
        Ok(Self {
            twilio: TwilioCredentials::from_sources(&env, secret_json)?,
            chat_service_sid: required_sid(&env, CHAT_SERVICE_SID_VAR, SidKind::ChatService)?,
            token_ttl_seconds: number(
                &env,
                TOKEN_TTL_VAR,
                DEFAULT_TTL_SECONDS,
                MIN_TTL_SECONDS..=MAX_TTL_SECONDS,
            )?,
            allow_guests: flag(&env, ALLOW_GUESTS_VAR, false)?,
            guest_max_age_days: number(&env, GUEST_MAX_AGE_VAR, 30, 1..=3650)?,
        })
    }
}

/// Loads the settings every function shares and the function's `own`, logging the first
/// problem so a failed cold start says why.
pub async fn load_function_settings<T>(
    own: impl Future<Output = Result<T, ConfigError>>,
) -> Result<(Settings, T), ConfigError> {
    let loaded = async { Ok((Settings::load().await?, own.await?)) }.await;
    if let Err(error) = &loaded {
        tracing::error!(%error, "invalid configuration");
    }
    loaded
}

/// How long closed chats stay as history (both functions that close chats read it).
pub(crate) fn closed_retention_days(env: &impl Env) -> Result<u32, ConfigError> {
    number(env, CLOSED_RETENTION_DAYS_VAR, 30, 1..=3650)
}

#[cfg(test)]
mod tests {
    use super::credentials::*;
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn base_env() -> HashMap<&'static str, String> {
        HashMap::from([
            (
                ACCOUNT_SID_VAR,
                "AC00000000000000000000000000000001".to_owned(),
            ),
            (
                API_KEY_SID_VAR,
                "SK00000000000000000000000000000002".to_owned(),
            ),
            (API_KEY_SECRET_VAR, "key-secret-value".to_owned()),
            (AUTH_TOKEN_VAR, "auth-token-value".to_owned()),
            (
                CHAT_SERVICE_SID_VAR,
                "IS00000000000000000000000000000003".to_owned(),
            ),
        ])
    }

    fn load(env: &HashMap<&'static str, String>) -> Result<Settings, ConfigError> {
        Settings::from_sources(|name| env.get(name).cloned(), None)
    }

    #[test]
    fn defaults_apply() {
        let settings = load(&base_env()).unwrap();
        assert_eq!(settings.token_ttl_seconds, 3600);
        assert!(!settings.allow_guests);
        assert_eq!(
            settings.twilio.api_key_secret.expose_secret(),
            "key-secret-value"
        );
    }

    #[test]
    fn ttl_bounds_are_enforced_and_named() {
        for (value, expected) in [("120", Ok(120)), ("86400", Ok(86_400)), ("900", Ok(900))] {
            let mut env = base_env();
            env.insert(TOKEN_TTL_VAR, value.into());
            assert_eq!(load(&env).map(|s| s.token_ttl_seconds), expected);
        }
        for value in ["119", "86401", "0", "-5", "1h", "3600.5"] {
            let mut env = base_env();
            env.insert(TOKEN_TTL_VAR, value.into());
            let error = load(&env).unwrap_err();
            assert!(
                matches!(
                    error,
                    ConfigError::Invalid {
                        var: TOKEN_TTL_VAR,
                        ..
                    }
                ),
                "{value}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with("TOKEN_TTL_SECONDS is invalid")
            );
        }
    }

    #[test]
    fn missing_and_malformed_values_name_the_variable() {
        for var in [
            ACCOUNT_SID_VAR,
            API_KEY_SID_VAR,
            API_KEY_SECRET_VAR,
            CHAT_SERVICE_SID_VAR,
        ] {
            let mut env = base_env();
            env.remove(var);
            assert_eq!(load(&env).unwrap_err(), ConfigError::Missing { var });
        }
        for (var, bad) in [
            (ACCOUNT_SID_VAR, "SK00000000000000000000000000000001"),
            (API_KEY_SID_VAR, "SK123"),
            (CHAT_SERVICE_SID_VAR, "CH00000000000000000000000000000003"),
        ] {
            let mut env = base_env();
            env.insert(var, bad.into());
            let error = load(&env).unwrap_err();
            assert!(
                matches!(error, ConfigError::Invalid { var: v, .. } if v == var),
                "{var}"
            );
            assert!(
                !error.to_string().contains(bad),
                "the message must not echo the value"
            );
        }
    }

    #[test]
    fn guest_flag_parses_strictly() {
        for (value, expected) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("false", false),
            ("0", false),
        ] {
            let mut env = base_env();
            env.insert(ALLOW_GUESTS_VAR, value.into());
            assert_eq!(load(&env).unwrap().allow_guests, expected, "{value}");
        }
        let mut env = base_env();
        env.insert(ALLOW_GUESTS_VAR, "yes please".into());
        assert!(matches!(
            load(&env),
            Err(ConfigError::Invalid {
                var: ALLOW_GUESTS_VAR,
                ..
            })
        ));
    }

    #[test]
    fn secret_document_replaces_credential_env_vars() {
        let mut env = base_env();
        for var in [ACCOUNT_SID_VAR, API_KEY_SID_VAR, API_KEY_SECRET_VAR] {
            env.remove(var);
        }
        let secret = r#"{"TWILIO_ACCOUNT_SID":"AC0000000000000000000000000000000a",
            "TWILIO_API_KEY_SID":"SK0000000000000000000000000000000b",
            "TWILIO_API_KEY_SECRET":"from-secret"}"#;
        let settings = Settings::from_sources(|name| env.get(name).cloned(), Some(secret)).unwrap();
        assert_eq!(
            settings.twilio.account_sid,
            "AC0000000000000000000000000000000a"
        );
        assert_eq!(
            settings.twilio.api_key_secret.expose_secret(),
            "from-secret"
        );
    }

    #[test]
    fn bad_secret_documents_are_explained_without_their_content() {
        let env = base_env();
        for (secret, needle) in [
            ("not json hunter2", "JSON object"),
            (
                r#"{"TWILIO_ACCOUNT_SID":"AC00000000000000000000000000000001"}"#,
                "TWILIO_API_KEY_SID is missing",
            ),
            (r#"{"extra":"hunter2"}"#, "JSON object"),
            (
                r#"{"TWILIO_ACCOUNT_SID":"AC00000000000000000000000000000001",
                    "TWILIO_API_KEY_SID":"SK00000000000000000000000000000002",
                    "TWILIO_API_KEY_SECRET":"s","TWILIO_AUTH_TOKEN":"hunter2"}"#,
                "read by flex-webhook alone",
            ),
        ] {
            let error =
                Settings::from_sources(|name| env.get(name).cloned(), Some(secret)).unwrap_err();
            let message = error.to_string();
            assert!(message.contains(needle), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn single_secrets_hold_their_one_key_only() {
        let env = |_: &str| Some("from-env".to_owned());
        let read = |json| single_secret_from(&env, AUTH_TOKEN_SECRET_ARN_VAR, AUTH_TOKEN_VAR, json);
        assert_eq!(read(None).unwrap().unwrap().expose_secret(), "from-env");
        let json = r#"{"TWILIO_AUTH_TOKEN":"from-secret"}"#;
        assert_eq!(
            read(Some(json)).unwrap().unwrap().expose_secret(),
            "from-secret"
        );
        assert!(read(Some("{}")).unwrap().is_none());
        for (json, needle) in [
            (
                r#"{"TWILIO_AUTH_TOKEN":"t","TWILIO_API_KEY_SECRET":"hunter2"}"#,
                "only",
            ),
            ("hunter2", "JSON object"),
        ] {
            let message = read(Some(json)).unwrap_err().to_string();
            assert!(message.contains(needle), "{message}");
            assert!(message.contains(AUTH_TOKEN_SECRET_ARN_VAR), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let debug = format!("{:?}", load(&base_env()).unwrap());
        assert!(!debug.contains("key-secret-value"));
        assert!(!debug.contains("auth-token-value"));
        assert!(debug.contains("AC00000000000000000000000000000001"));
    }
}
