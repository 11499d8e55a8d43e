//! Typed settings, loaded once per cold start. Non-secret values come from environment
//! variables; Twilio credentials from one Secrets Manager JSON secret when `TWILIO_SECRET_ARN` is
//! set, else from environment variables (local runs). Invalid configuration fails the cold start
//! with a message naming the variable, never the value.

use secrecy::SecretString;
use serde::Deserialize;

use crate::sid::{SidKind, check_sid};
use crate::token::{DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MIN_TTL_SECONDS, TokenIssuer};

pub const SECRET_ARN_VAR: &str = "TWILIO_SECRET_ARN";
pub const ACCOUNT_SID_VAR: &str = "TWILIO_ACCOUNT_SID";
pub const API_KEY_SID_VAR: &str = "TWILIO_API_KEY_SID";
pub const API_KEY_SECRET_VAR: &str = "TWILIO_API_KEY_SECRET";
pub const AUTH_TOKEN_VAR: &str = "TWILIO_AUTH_TOKEN";
pub const CHAT_SERVICE_SID_VAR: &str = "TWILIO_CHAT_SERVICE_SID";
pub const TOKEN_TTL_VAR: &str = "TOKEN_TTL_SECONDS";
pub const ALLOW_GUESTS_VAR: &str = "ALLOW_GUESTS";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is not set")]
    Missing { var: &'static str },
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("the secret named by {SECRET_ARN_VAR} could not be read: {reason}")]
    Secret { reason: String },
}

/// The Twilio account credentials. Secrets are wrapped so `Debug` and logs show `[REDACTED]`.
#[derive(Debug)]
pub struct TwilioCredentials {
    pub account_sid: String,
    pub api_key_sid: String,
    pub api_key_secret: SecretString,
    /// Keys webhook signatures (`X-Twilio-Signature`), unlike the API key secret.
    pub auth_token: SecretString,
}

#[derive(Debug)]
pub struct Settings {
    pub twilio: TwilioCredentials,
    /// Chat (legacy) or Conversations service the token's `chat` grant names.
    pub chat_service_sid: String,
    pub token_ttl_seconds: u32,
    /// Whether callers without authorizer claims may chat as random guests.
    pub allow_guests: bool,
}

/// The shape of the Secrets Manager secret: the same names as the environment variables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretDocument {
    #[serde(rename = "TWILIO_ACCOUNT_SID")]
    account_sid: Option<String>,
    #[serde(rename = "TWILIO_API_KEY_SID")]
    api_key_sid: Option<String>,
    #[serde(rename = "TWILIO_API_KEY_SECRET")]
    api_key_secret: Option<String>,
    #[serde(rename = "TWILIO_AUTH_TOKEN")]
    auth_token: Option<String>,
}

impl Settings {
    /// Loads settings from the process environment, and from Secrets Manager when
    /// `TWILIO_SECRET_ARN` is set.
    ///
    /// `aws` is the SDK config when the caller already has one (it needs AWS anyway); without
    /// it, one is built only if the secret must be read, so a function that needs no AWS service
    /// pays nothing for the SDK at cold start.
    pub async fn load(aws: Option<&aws_config::SdkConfig>) -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let secret_json = match env(SECRET_ARN_VAR).filter(|arn| !arn.is_empty()) {
            Some(arn) => {
                let owned;
                let aws = match aws {
                    Some(aws) => aws,
                    None => {
                        owned = crate::aws::sdk_config().await;
                        &owned
                    }
                };
                Some(crate::aws::fetch_secret_string(aws, &arn).await?)
            }
            None => None,
        };
        Self::from_sources(env, secret_json.as_deref())
    }

    /// Builds settings from an environment lookup and, when given, the secret's JSON text.
    pub fn from_sources(
        env: impl Fn(&str) -> Option<String>,
        secret_json: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let twilio = match secret_json {
            Some(json) => credentials_from_secret(json)?,
            None => TwilioCredentials::from_lookup(&env)?,
        };
        let chat_service_sid = required(&env, CHAT_SERVICE_SID_VAR)?;
        sid(
            CHAT_SERVICE_SID_VAR,
            SidKind::ChatService,
            &chat_service_sid,
        )?;
        Ok(Self {
            twilio,
            chat_service_sid,
            token_ttl_seconds: number(
                &env,
                TOKEN_TTL_VAR,
                DEFAULT_TTL_SECONDS,
                MIN_TTL_SECONDS..=MAX_TTL_SECONDS,
            )?,
            allow_guests: flag(ALLOW_GUESTS_VAR, env(ALLOW_GUESTS_VAR), false)?,
        })
    }

    pub fn token_issuer(&self) -> TokenIssuer {
        TokenIssuer::new(
            &self.twilio.account_sid,
            &self.twilio.api_key_sid,
            &self.twilio.api_key_secret,
            &self.chat_service_sid,
            self.token_ttl_seconds,
        )
    }
}

/// Loads the settings every function shares and the function's `own`, logging the first
/// problem so a failed cold start says why.
pub async fn load_function_settings<T>(
    aws: &aws_config::SdkConfig,
    own: impl FnOnce() -> Result<T, ConfigError>,
) -> Result<(Settings, T), ConfigError> {
    let loaded = async { Ok((Settings::load(Some(aws)).await?, own()?)) }.await;
    if let Err(error) = &loaded {
        tracing::error!(%error, "invalid configuration");
    }
    loaded
}

impl TwilioCredentials {
    fn from_lookup(lookup: impl Fn(&'static str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &'static str| {
            lookup(var)
                .filter(|value| !value.is_empty())
                .ok_or(ConfigError::Missing { var })
        };
        let account_sid = get(ACCOUNT_SID_VAR)?;
        sid(ACCOUNT_SID_VAR, SidKind::Account, &account_sid)?;
        let api_key_sid = get(API_KEY_SID_VAR)?;
        sid(API_KEY_SID_VAR, SidKind::ApiKey, &api_key_sid)?;
        Ok(Self {
            account_sid,
            api_key_sid,
            api_key_secret: SecretString::from(get(API_KEY_SECRET_VAR)?),
            auth_token: SecretString::from(get(AUTH_TOKEN_VAR)?),
        })
    }
}

fn credentials_from_secret(json: &str) -> Result<TwilioCredentials, ConfigError> {
    // serde's message could quote the secret's text, so it is not passed on.
    let document: SecretDocument = serde_json::from_str(json).map_err(|_| ConfigError::Secret {
        reason: format!(
            "it must be a JSON object with the keys {ACCOUNT_SID_VAR}, {API_KEY_SID_VAR}, \
             {API_KEY_SECRET_VAR} and {AUTH_TOKEN_VAR}, all strings"
        ),
    })?;
    TwilioCredentials::from_lookup(|var| match var {
        ACCOUNT_SID_VAR => document.account_sid.clone(),
        API_KEY_SID_VAR => document.api_key_sid.clone(),
        API_KEY_SECRET_VAR => document.api_key_secret.clone(),
        AUTH_TOKEN_VAR => document.auth_token.clone(),
        _ => None,
    })
    .map_err(|error| match error {
        ConfigError::Missing { var } => ConfigError::Secret {
            reason: format!("the key {var} is missing or empty"),
        },
        other => other,
    })
}

fn required(
    env: &impl Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<String, ConfigError> {
    env(var)
        .filter(|value| !value.is_empty())
        .ok_or(ConfigError::Missing { var })
}

fn sid(var: &'static str, kind: SidKind, value: &str) -> Result<(), ConfigError> {
    check_sid(kind, value).map_err(|reason| ConfigError::Invalid { var, reason })
}

fn flag(var: &'static str, value: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(_) => Err(ConfigError::Invalid {
            var,
            reason: "must be true or false".into(),
        }),
    }
}

pub const FLEX_MODE_VAR: &str = "FLEX_MODE";
pub const FLEX_ADDRESS_SID_VAR: &str = "TWILIO_FLEX_ADDRESS_SID";
pub const FLEX_FLOW_SID_VAR: &str = "TWILIO_FLEX_FLOW_SID";
pub const CHANNELS_TABLE_VAR: &str = "CHANNELS_TABLE";
pub const CLOSED_RETENTION_DAYS_VAR: &str = "CLOSED_CHAT_RETENTION_DAYS";
pub const WEBHOOK_URL_VAR: &str = "TWILIO_WEBHOOK_URL";
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
}

/// Base URLs of the Twilio hosts we call; overridable so tests and the local stack use local servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioHosts {
    pub flex: String,
    pub chat: String,
    pub conversations: String,
}

/// What `create-channel` needs beyond [`Settings`].
#[derive(Clone, Debug)]
pub struct ChannelSettings {
    pub mode: FlexMode,
    pub table: String,
    pub closed_retention_days: u32,
    /// Public URL of `POST /twilio/webhook`, registered on every new chat.
    pub webhook_url: String,
    pub hosts: TwilioHosts,
    /// All Twilio calls of one request, retries included, finish within this.
    pub twilio_deadline: std::time::Duration,
}

impl ChannelSettings {
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(|name| std::env::var(name).ok())
    }

    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mode = match env(FLEX_MODE_VAR).as_deref().map(str::trim) {
            None | Some("") | Some("conversations") => {
                let address_sid = required(&env, FLEX_ADDRESS_SID_VAR)?;
                sid(
                    FLEX_ADDRESS_SID_VAR,
                    SidKind::ConversationsAddress,
                    &address_sid,
                )?;
                FlexMode::Conversations { address_sid }
            }
            Some("chat") => {
                let flex_flow_sid = required(&env, FLEX_FLOW_SID_VAR)?;
                sid(FLEX_FLOW_SID_VAR, SidKind::FlexFlow, &flex_flow_sid)?;
                FlexMode::Chat { flex_flow_sid }
            }
            Some(_) => {
                return Err(ConfigError::Invalid {
                    var: FLEX_MODE_VAR,
                    reason: "must be conversations or chat".into(),
                });
            }
        };
        let webhook_url = required(&env, WEBHOOK_URL_VAR)?;
        check_url(WEBHOOK_URL_VAR, &webhook_url)?;
        let host = |var: &'static str, default: &str| -> Result<String, ConfigError> {
            let url = env(var)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned());
            check_url(var, &url)?;
            Ok(url.trim_end_matches('/').to_owned())
        };
        Ok(Self {
            mode,
            table: required(&env, CHANNELS_TABLE_VAR)?,
            closed_retention_days: closed_retention_days(&env)?,
            webhook_url,
            hosts: TwilioHosts {
                flex: host(FLEX_API_URL_VAR, "https://flex-api.twilio.com")?,
                chat: host(CHAT_API_URL_VAR, "https://chat.twilio.com")?,
                conversations: host(
                    CONVERSATIONS_API_URL_VAR,
                    "https://conversations.twilio.com",
                )?,
            },
            twilio_deadline: std::time::Duration::from_millis(u64::from(number(
                &env,
                TWILIO_DEADLINE_MS_VAR,
                6000,
                500..=60_000,
            )?)),
        })
    }
}

/// What `flex-webhook` needs beyond [`Settings`].
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

    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let public_url = required(&env, WEBHOOK_URL_VAR)?;
        check_url(WEBHOOK_URL_VAR, &public_url)?;
        Ok(Self {
            table: required(&env, CHANNELS_TABLE_VAR)?,
            closed_retention_days: closed_retention_days(&env)?,
            public_url,
        })
    }
}

fn closed_retention_days(env: &impl Fn(&str) -> Option<String>) -> Result<u32, ConfigError> {
    number(env, CLOSED_RETENTION_DAYS_VAR, 30, 1..=3650)
}

fn check_url(var: &'static str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var,
            reason: "must be an http(s) URL".into(),
        })
    }
}

fn number(
    env: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, ConfigError> {
    let Some(value) = env(var).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| ConfigError::Invalid {
            var,
            reason: format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        })
}

#[cfg(test)]
mod tests {
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
            AUTH_TOKEN_VAR,
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
        for var in [
            ACCOUNT_SID_VAR,
            API_KEY_SID_VAR,
            API_KEY_SECRET_VAR,
            AUTH_TOKEN_VAR,
        ] {
            env.remove(var);
        }
        let secret = r#"{"TWILIO_ACCOUNT_SID":"AC0000000000000000000000000000000a",
            "TWILIO_API_KEY_SID":"SK0000000000000000000000000000000b",
            "TWILIO_API_KEY_SECRET":"from-secret","TWILIO_AUTH_TOKEN":"tok"}"#;
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
        ] {
            let error =
                Settings::from_sources(|name| env.get(name).cloned(), Some(secret)).unwrap_err();
            let message = error.to_string();
            assert!(message.contains(needle), "{message}");
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
