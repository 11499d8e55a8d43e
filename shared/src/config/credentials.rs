//! The Twilio account credentials: from one Secrets Manager JSON secret when `TWILIO_SECRET_ARN`
//! is set (deployed), else from environment variables (local runs and tests).

use secrecy::SecretString;
use serde::Deserialize;

use super::ConfigError;
use super::env::{Env, sid};
use crate::ids::SidKind;

pub const SECRET_ARN_VAR: &str = "TWILIO_SECRET_ARN";
pub const ACCOUNT_SID_VAR: &str = "TWILIO_ACCOUNT_SID";
pub const API_KEY_SID_VAR: &str = "TWILIO_API_KEY_SID";
pub const API_KEY_SECRET_VAR: &str = "TWILIO_API_KEY_SECRET";
pub const AUTH_TOKEN_VAR: &str = "TWILIO_AUTH_TOKEN";

/// The Twilio account credentials. Secrets are wrapped so `Debug` and logs show `[REDACTED]`.
#[derive(Debug)]
pub struct TwilioCredentials {
    pub account_sid: String,
    pub api_key_sid: String,
    pub api_key_secret: SecretString,
    /// Keys webhook signatures (`X-Twilio-Signature`), unlike the API key secret.
    pub auth_token: SecretString,
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

/// The secret's JSON text when `TWILIO_SECRET_ARN` names one. Only then is a Secrets Manager
/// client built, so a cold start without the secret pays nothing for it.
pub async fn secret_json(env: &impl Env) -> Result<Option<String>, ConfigError> {
    let Some(arn) = env(SECRET_ARN_VAR).filter(|arn| !arn.is_empty()) else {
        return Ok(None);
    };
    let client = crate::aws::secrets_manager_client().await;
    crate::aws::fetch_secret_string(&client, &arn)
        .await
        .map(Some)
        .map_err(|error| ConfigError::Secret {
            reason: error.to_string(),
        })
}

impl TwilioCredentials {
    /// From the secret's JSON text when given, else from the environment.
    pub fn from_sources(env: &impl Env, secret_json: Option<&str>) -> Result<Self, ConfigError> {
        match secret_json {
            Some(json) => Self::from_secret(json),
            None => Self::from_lookup(env),
        }
    }

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

    fn from_secret(json: &str) -> Result<Self, ConfigError> {
        // serde's message could quote the secret's text, so it is not passed on.
        let document: SecretDocument =
            serde_json::from_str(json).map_err(|_| ConfigError::Secret {
                reason: format!(
                    "it must be a JSON object with the keys {ACCOUNT_SID_VAR}, {API_KEY_SID_VAR}, \
                     {API_KEY_SECRET_VAR} and {AUTH_TOKEN_VAR}, all strings"
                ),
            })?;
        Self::from_lookup(|var| match var {
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
}
