//! `chat-graphql`'s own settings.

use std::time::Duration;

use super::env::{Env, flag, number, required};
use super::twilio::{TwilioHosts, twilio_deadline};
use super::{AvailabilitySettings, CHANNELS_TABLE_VAR, ConfigError, closed_retention_days};

pub const INTROSPECTION_VAR: &str = "GRAPHQL_INTROSPECTION";
pub const RATING_WINDOW_VAR: &str = "RATING_WINDOW_HOURS";
pub const TRANSCRIPT_AGENT_NAME_VAR: &str = "TRANSCRIPT_AGENT_NAME";
/// A chat can be rated this long after it closed.
pub const DEFAULT_RATING_WINDOW_HOURS: u32 = 24;
/// What a transcript calls every agent: their identity is often their work email.
pub const DEFAULT_TRANSCRIPT_AGENT_NAME: &str = "Agent";
const MAX_AGENT_NAME_CHARS: usize = 64;

/// What `chat-graphql` needs beyond [`super::Settings`].
#[derive(Clone, Debug)]
pub struct GraphqlSettings {
    pub table: String,
    /// For chats the customer ends: the same retention the webhook gives them.
    pub closed_retention_days: u32,
    /// Where a chat is ended on Twilio's side.
    pub hosts: TwilioHosts,
    pub twilio_deadline: Duration,
    /// Whether the schema answers `__schema` and `__type`. Off unless asked for: the schema is
    /// published as `schema.graphql`, and a public endpoint need not describe itself.
    pub introspection: bool,
    /// The queue the `availability` field describes.
    pub availability: AvailabilitySettings,
    /// How long after closing a chat may be rated.
    pub rating_window_hours: u32,
    /// The author a transcript shows for every agent's message.
    pub transcript_agent_name: String,
    /// Transcript pages per customer.
    pub transcript_pages: super::RateLimit,
}

impl GraphqlSettings {
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(|name| std::env::var(name).ok())
    }

    pub fn from_env(env: impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: required(&env, CHANNELS_TABLE_VAR)?,
            closed_retention_days: closed_retention_days(&env)?,
            hosts: TwilioHosts::from_env(&env)?,
            twilio_deadline: twilio_deadline(&env)?,
            introspection: flag(&env, INTROSPECTION_VAR, false)?,
            availability: AvailabilitySettings::from_env(&env)?,
            rating_window_hours: number(
                &env,
                RATING_WINDOW_VAR,
                DEFAULT_RATING_WINDOW_HOURS,
                1..=720,
            )?,
            transcript_agent_name: agent_name(&env)?,
            transcript_pages: super::limits::transcript_pages(&env)?,
        })
    }
}

/// `TRANSCRIPT_AGENT_NAME`: 1 to 64 printable characters.
fn agent_name(env: &impl Env) -> Result<String, ConfigError> {
    let Some(name) = env(TRANSCRIPT_AGENT_NAME_VAR).map(|name| name.trim().to_owned()) else {
        return Ok(DEFAULT_TRANSCRIPT_AGENT_NAME.to_owned());
    };
    let printable = !name.is_empty()
        && name.chars().count() <= MAX_AGENT_NAME_CHARS
        && !name.chars().any(char::is_control);
    if printable {
        Ok(name)
    } else {
        Err(ConfigError::Invalid {
            var: TRANSCRIPT_AGENT_NAME_VAR,
            reason: format!("must be 1 to {MAX_AGENT_NAME_CHARS} printable characters"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(env: &[(&str, &str)]) -> Result<GraphqlSettings, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        GraphqlSettings::from_env(|name| env.get(name).cloned())
    }

    #[test]
    fn introspection_is_off_unless_asked_for() {
        let settings = load(&[(CHANNELS_TABLE_VAR, "channels")]).unwrap();
        assert!(!settings.introspection);
        assert_eq!(
            settings.hosts.conversations,
            "https://conversations.twilio.com"
        );
        assert_eq!(settings.twilio_deadline, Duration::from_millis(6000));
        let settings = load(&[
            (CHANNELS_TABLE_VAR, "channels"),
            (INTROSPECTION_VAR, "true"),
        ]);
        assert!(settings.unwrap().introspection);
    }

    #[test]
    fn ratings_and_transcripts_have_defaults_and_bounds() {
        let settings = load(&[(CHANNELS_TABLE_VAR, "channels")]).unwrap();
        assert_eq!(settings.rating_window_hours, 24);
        assert_eq!(settings.transcript_agent_name, "Agent");
        let settings = load(&[
            (CHANNELS_TABLE_VAR, "channels"),
            (RATING_WINDOW_VAR, "48"),
            (TRANSCRIPT_AGENT_NAME_VAR, " Support team "),
        ])
        .unwrap();
        assert_eq!(settings.rating_window_hours, 48);
        assert_eq!(settings.transcript_agent_name, "Support team");
        for (var, bad) in [
            (RATING_WINDOW_VAR, "0"),
            (RATING_WINDOW_VAR, "721"),
            (TRANSCRIPT_AGENT_NAME_VAR, ""),
            (TRANSCRIPT_AGENT_NAME_VAR, "a\u{7}b"),
        ] {
            let error = load(&[(CHANNELS_TABLE_VAR, "t"), (var, bad)]).unwrap_err();
            assert!(
                matches!(error, ConfigError::Invalid { var: found, .. } if found == var),
                "{var}={bad:?}: {error}"
            );
        }
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(
            load(&[]).unwrap_err(),
            ConfigError::Missing {
                var: CHANNELS_TABLE_VAR
            }
        );
        let error = load(&[(CHANNELS_TABLE_VAR, "t"), (INTROSPECTION_VAR, "maybe")]).unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::Invalid {
                    var: INTROSPECTION_VAR,
                    ..
                }
            ),
            "{error}"
        );
    }
}
