//! `reconcile-chats`' own settings.

use std::time::Duration;

use super::env::{Env, number, required};
use super::twilio::{TwilioHosts, twilio_deadline};
use super::{CHANNELS_TABLE_VAR, ConfigError, closed_retention_days};

pub const RECONCILE_AFTER_MINUTES_VAR: &str = "RECONCILE_AFTER_MINUTES";
pub const RECONCILE_MAX_CHECKS_VAR: &str = "RECONCILE_MAX_CHECKS";

/// What `reconcile-chats` needs beyond [`super::Settings`].
#[derive(Clone, Debug)]
pub struct ReconcileSettings {
    pub table: String,
    pub closed_retention_days: u32,
    pub hosts: TwilioHosts,
    /// Per Twilio read, retries included.
    pub twilio_deadline: Duration,
    /// An active chat not confirmed live for longer than this is checked.
    pub stale_after_seconds: i64,
    /// At most this many chats are checked (one Twilio read each) per run.
    pub max_checks: usize,
}

impl ReconcileSettings {
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(|name| std::env::var(name).ok())
    }

    pub fn from_env(env: impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: required(&env, CHANNELS_TABLE_VAR)?,
            closed_retention_days: closed_retention_days(&env)?,
            hosts: TwilioHosts::from_env(&env)?,
            twilio_deadline: twilio_deadline(&env)?,
            stale_after_seconds: i64::from(number(
                &env,
                RECONCILE_AFTER_MINUTES_VAR,
                10,
                1..=10_080,
            )?) * 60,
            max_checks: number(&env, RECONCILE_MAX_CHECKS_VAR, 100, 1..=1_000)? as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_and_bounds() {
        let mut env = HashMap::from([(CHANNELS_TABLE_VAR, "channels".to_owned())]);
        let load = |env: &HashMap<&str, String>| {
            ReconcileSettings::from_env(|name| env.get(name).cloned())
        };
        let settings = load(&env).unwrap();
        assert_eq!(
            (settings.stale_after_seconds, settings.max_checks),
            (600, 100)
        );
        env.insert(RECONCILE_MAX_CHECKS_VAR, "0".into());
        assert!(matches!(
            load(&env),
            Err(ConfigError::Invalid {
                var: RECONCILE_MAX_CHECKS_VAR,
                ..
            })
        ));
        env.insert(RECONCILE_MAX_CHECKS_VAR, "5".into());
        env.insert(RECONCILE_AFTER_MINUTES_VAR, "2".into());
        let settings = load(&env).unwrap();
        assert_eq!(
            (settings.stale_after_seconds, settings.max_checks),
            (120, 5)
        );
    }
}
