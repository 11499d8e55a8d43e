//! `flex-webhook`'s own settings, and the connection overrides both it and `create-channel` read:
//! the one registers the webhook URL with them, the other checks signatures made over it.

use secrecy::SecretString;

use super::availability::queue_name_from_env;
use super::credentials::{
    AUTH_TOKEN_SECRET_ARN_VAR, AUTH_TOKEN_VAR, secret_json, single_secret_from,
};
use super::env::{Env, required, required_url};
use super::{CHANNELS_TABLE_VAR, ConfigError, WEBHOOK_URL_VAR, closed_retention_days};

pub const CONNECTION_OVERRIDES_VAR: &str = "TWILIO_WEBHOOK_CONNECTION_OVERRIDES";
/// Twilio retries a failed webhook up to 3 more times, whatever failed: a throttled, crashed or
/// DynamoDB-starved `flex-webhook` answers 5xx, which Twilio by default does not retry.
pub const DEFAULT_CONNECTION_OVERRIDES: &str = "rc=3&rp=all";

/// What `flex-webhook` needs: not [`super::Settings`], whose API key it never uses.
#[derive(Debug)]
pub struct WebhookSettings {
    /// Keys `X-Twilio-Signature`; only this function holds it.
    pub auth_token: SecretString,
    pub table: String,
    pub closed_retention_days: u32,
    /// The public URL Twilio calls and signs (the one `create-channel` registers).
    pub public_url: String,
    /// The connection overrides `create-channel` registers the URL with, if any.
    pub connection_overrides: Option<String>,
    /// The queue chats are routed to, whose acceptances the webhook records
    /// ([`crate::availability::acceptance`]).
    pub queue_name: String,
}

impl WebhookSettings {
    /// From the environment, and the auth token from Secrets Manager when
    /// `TWILIO_AUTH_TOKEN_SECRET_ARN` is set.
    pub async fn load() -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        let json = secret_json(&env, AUTH_TOKEN_SECRET_ARN_VAR).await?;
        Self::from_sources(env, json.as_deref())
    }

    /// From an environment lookup alone (local runs and tests).
    pub fn from_env(env: impl Env) -> Result<Self, ConfigError> {
        Self::from_sources(env, None)
    }

    pub fn from_sources(env: impl Env, secret_json: Option<&str>) -> Result<Self, ConfigError> {
        Ok(Self {
            auth_token: single_secret_from(
                &env,
                AUTH_TOKEN_SECRET_ARN_VAR,
                AUTH_TOKEN_VAR,
                secret_json,
            )?
            .ok_or(ConfigError::Missing {
                var: AUTH_TOKEN_VAR,
            })?,
            public_url: webhook_url(&env)?,
            connection_overrides: connection_overrides(&env)?,
            table: required(&env, CHANNELS_TABLE_VAR)?,
            closed_retention_days: closed_retention_days(&env)?,
            queue_name: queue_name_from_env(&env)?,
        })
    }
}

/// `TWILIO_WEBHOOK_URL`: the public URL of `POST /twilio/webhook`, without a fragment (the
/// overrides have their own variable).
pub fn webhook_url(env: &impl Env) -> Result<String, ConfigError> {
    let url = required_url(env, WEBHOOK_URL_VAR)?;
    if url.contains('#') {
        return Err(ConfigError::Invalid {
            var: WEBHOOK_URL_VAR,
            reason: format!(
                "must have no #fragment: connection overrides go in {CONNECTION_OVERRIDES_VAR}"
            ),
        });
    }
    Ok(url)
}

/// `TWILIO_WEBHOOK_CONNECTION_OVERRIDES`: Twilio's webhook connection overrides, appended to the
/// registered URL as its fragment (`ct`, `rt`, `tt` in milliseconds, `rc` retries, `rp` retry
/// policy, `e` edge, `sni`), checked against Twilio's documented ranges so a typo fails the cold
/// start rather than every webhook (Twilio error 11243 and its kin). Unset: the default; empty:
/// none.
pub fn connection_overrides(env: &impl Env) -> Result<Option<String>, ConfigError> {
    let overrides =
        env(CONNECTION_OVERRIDES_VAR).unwrap_or_else(|| DEFAULT_CONNECTION_OVERRIDES.to_owned());
    let overrides = overrides.trim().trim_start_matches('#');
    if overrides.is_empty() {
        return Ok(None);
    }
    for pair in overrides.split('&') {
        check_override(pair).map_err(|reason| ConfigError::Invalid {
            var: CONNECTION_OVERRIDES_VAR,
            reason,
        })?;
    }
    Ok(Some(overrides.to_owned()))
}

fn check_override(pair: &str) -> Result<(), String> {
    let (key, value) = pair
        .split_once('=')
        .ok_or_else(|| format!("{pair:?} is not key=value"))?;
    let millis = |max: u32| {
        value
            .parse::<u32>()
            .ok()
            .filter(|ms| (100..=max).contains(ms))
            .map(drop)
            .ok_or_else(|| format!("{key} must be 100 to {max} milliseconds"))
    };
    match key {
        "ct" => millis(10_000),
        "rt" | "tt" => millis(15_000),
        "rc" => value
            .parse::<u32>()
            .ok()
            .filter(|count| *count <= 5)
            .map(drop)
            .ok_or_else(|| "rc must be 0 to 5 retries".to_owned()),
        "rp" => value
            .split(',')
            .all(|policy| ["4xx", "5xx", "ct", "rt", "all"].contains(&policy))
            .then_some(())
            .ok_or_else(|| "rp must list 4xx, 5xx, ct, rt or all, comma-separated".to_owned()),
        "e" => (!value.is_empty() && value.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
            .then_some(())
            .ok_or_else(|| "e must be a Twilio edge name, such as ashburn".to_owned()),
        "sni" => ["y", "n"]
            .contains(&value)
            .then_some(())
            .ok_or_else(|| "sni must be y or n".to_owned()),
        _ => Err(format!("{key:?} is not a Twilio connection override")),
    }
}

/// The URL registered on each chat: the public URL with the overrides as its fragment.
pub fn registered_url(public_url: &str, overrides: Option<&str>) -> String {
    match overrides {
        Some(overrides) => format!("{public_url}#{overrides}"),
        None => public_url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn overrides(value: Option<&str>) -> Result<Option<String>, ConfigError> {
        let env: HashMap<&str, String> = value
            .map(|v| HashMap::from([(CONNECTION_OVERRIDES_VAR, v.to_owned())]))
            .unwrap_or_default();
        connection_overrides(&|name: &str| env.get(name).cloned())
    }

    #[test]
    fn overrides_default_to_retries_and_take_twilios_documented_keys() {
        assert_eq!(overrides(None).unwrap().as_deref(), Some("rc=3&rp=all"));
        assert_eq!(overrides(Some("")).unwrap(), None);
        assert_eq!(
            overrides(Some(
                "#ct=1000&rt=3000&tt=9000&rc=5&rp=5xx,ct,rt&e=dublin&sni=y"
            ))
            .unwrap()
            .as_deref(),
            Some("ct=1000&rt=3000&tt=9000&rc=5&rp=5xx,ct,rt&e=dublin&sni=y")
        );
        for bad in [
            "rc=6",
            "rc",
            "rp=500",
            "ct=50",
            "rt=20000",
            "x=1",
            "rc=3&&rp=all",
            "e=Dub lin",
        ] {
            assert!(
                matches!(
                    overrides(Some(bad)),
                    Err(ConfigError::Invalid {
                        var: CONNECTION_OVERRIDES_VAR,
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_registered_url_carries_the_overrides_as_its_fragment() {
        assert_eq!(
            registered_url(
                "https://api.example.com/twilio/webhook",
                Some("rc=3&rp=all")
            ),
            "https://api.example.com/twilio/webhook#rc=3&rp=all"
        );
        assert_eq!(
            registered_url("https://a.example/w", None),
            "https://a.example/w"
        );
        let env = HashMap::from([(WEBHOOK_URL_VAR, "https://a.example/w#rc=1".to_owned())]);
        assert!(webhook_url(&|name: &str| env.get(name).cloned()).is_err());
    }
}
