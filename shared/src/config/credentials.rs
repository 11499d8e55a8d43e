//! Secrets, each read only by the functions that use it: from a Secrets Manager JSON secret when
//! its `…_SECRET_ARN` variable is set (deployed), else from environment variables (local runs and
//! tests).
//!
//! - the Twilio API key (`TWILIO_SECRET_ARN`): every function that calls Twilio or mints or
//!   verifies tokens, so all but `flex-webhook`;
//! - the auth token (`TWILIO_AUTH_TOKEN_SECRET_ARN`): `flex-webhook` alone, to check
//!   `X-Twilio-Signature` (it can do anything on the account, so nothing else holds it);
//! - the bot context key (`BOT_CONTEXT_SECRET_ARN`): `create-channel` alone, to verify the bot's
//!   signature over the context it hands over.

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
pub const AUTH_TOKEN_SECRET_ARN_VAR: &str = "TWILIO_AUTH_TOKEN_SECRET_ARN";
pub const BOT_CONTEXT_KEY_VAR: &str = "BOT_CONTEXT_HMAC_KEY";
pub const BOT_CONTEXT_SECRET_ARN_VAR: &str = "BOT_CONTEXT_SECRET_ARN";

/// The Twilio API key and its account. Secrets are wrapped so `Debug` and logs show `[REDACTED]`.
#[derive(Debug)]
pub struct TwilioCredentials {
    pub account_sid: String,
    pub api_key_sid: String,
    pub api_key_secret: SecretString,
}

/// The shape of the API key's secret: the same names as the environment variables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretDocument {
    #[serde(rename = "TWILIO_ACCOUNT_SID")]
    account_sid: Option<String>,
    #[serde(rename = "TWILIO_API_KEY_SID")]
    api_key_sid: Option<String>,
    #[serde(rename = "TWILIO_API_KEY_SECRET")]
    api_key_secret: Option<String>,
}

/// The JSON text of the secret `arn_var` names, if it names one. Only then is a Secrets Manager
/// client built, so a cold start without the secret pays nothing for it.
pub async fn secret_json(
    env: &impl Env,
    arn_var: &'static str,
) -> Result<Option<String>, ConfigError> {
    let Some(arn) = env(arn_var).filter(|arn| !arn.is_empty()) else {
        return Ok(None);
    };
    let client = crate::aws::secrets_manager_client().await;
    crate::aws::fetch_secret_string(&client, &arn)
        .await
        .map(Some)
        .map_err(|error| ConfigError::Secret {
            var: arn_var,
            reason: error.to_string(),
        })
}

/// One secret value: the key `var` of the JSON object in the secret `arn_var` names when it is
/// set, else the environment variable `var`. `None` when neither has it.
pub async fn single_secret(
    env: &impl Env,
    arn_var: &'static str,
    var: &'static str,
) -> Result<Option<SecretString>, ConfigError> {
    let json = secret_json(env, arn_var).await?;
    single_secret_from(env, arn_var, var, json.as_deref())
}

/// [`single_secret`] from the secret's JSON text, once read.
pub fn single_secret_from(
    env: &impl Env,
    arn_var: &'static str,
    var: &'static str,
    json: Option<&str>,
) -> Result<Option<SecretString>, ConfigError> {
    let value = match json {
        None => env(var),
        Some(json) => {
            let document: std::collections::HashMap<String, String> = serde_json::from_str(json)
                .map_err(|_| ConfigError::Secret {
                    var: arn_var,
                    reason: format!("it must be a JSON object with the key {var}, a string"),
                })?;
            if let Some(other) = document.keys().find(|key| key.as_str() != var) {
                return Err(ConfigError::Secret {
                    var: arn_var,
                    reason: format!("it may hold only {var}, not {other}"),
                });
            }
            document.get(var).cloned()
        }
    };
    Ok(value
        .filter(|value| !value.is_empty())
        .map(SecretString::from))
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
        })
    }

    fn from_secret(json: &str) -> Result<Self, ConfigError> {
        // serde's message could quote the secret's text, so it is not passed on.
        let document: SecretDocument =
            serde_json::from_str(json).map_err(|_| ConfigError::Secret {
                var: SECRET_ARN_VAR,
                reason: format!(
                    "it must be a JSON object with the keys {ACCOUNT_SID_VAR}, {API_KEY_SID_VAR} \
                     and {API_KEY_SECRET_VAR}, all strings ({AUTH_TOKEN_VAR} belongs in the \
                     secret {AUTH_TOKEN_SECRET_ARN_VAR} names, read by flex-webhook alone)"
                ),
            })?;
        Self::from_lookup(|var| match var {
            ACCOUNT_SID_VAR => document.account_sid.clone(),
            API_KEY_SID_VAR => document.api_key_sid.clone(),
            API_KEY_SECRET_VAR => document.api_key_secret.clone(),
            _ => None,
        })
        .map_err(|error| match error {
            ConfigError::Missing { var } => ConfigError::Secret {
                var: SECRET_ARN_VAR,
                reason: format!("the key {var} is missing or empty"),
            },
            other => other,
        })
    }
}
