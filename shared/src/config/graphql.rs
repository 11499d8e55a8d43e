//! `chat-graphql`'s own settings.

use std::time::Duration;

use super::env::{Env, flag, required};
use super::twilio::{TwilioHosts, twilio_deadline};
use super::{AvailabilitySettings, CHANNELS_TABLE_VAR, ConfigError, closed_retention_days};

pub const INTROSPECTION_VAR: &str = "GRAPHQL_INTROSPECTION";

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
