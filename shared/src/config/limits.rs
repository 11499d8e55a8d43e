//! The abuse limits' settings: per client (source network), how many new guests and new chats,
//! and per customer how many transcript pages (README, "Security").

use super::CHANNELS_TABLE_VAR;
use super::ConfigError;
use super::env::{Env, number, required};

pub const NEW_GUESTS_PER_MINUTE_VAR: &str = "NEW_GUESTS_PER_MINUTE";
pub const NEW_GUESTS_BURST_VAR: &str = "NEW_GUESTS_BURST";
pub const NEW_CHATS_PER_MINUTE_VAR: &str = "NEW_CHATS_PER_MINUTE";
pub const NEW_CHATS_BURST_VAR: &str = "NEW_CHATS_BURST";
pub const TRANSCRIPT_PAGES_PER_MINUTE_VAR: &str = "TRANSCRIPT_PAGES_PER_MINUTE";
pub const TRANSCRIPT_PAGES_BURST_VAR: &str = "TRANSCRIPT_PAGES_BURST";

/// A limit: `per_minute` sustained, `burst` at once from full. `per_minute` 0: no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

fn limit(
    env: &impl Env,
    (rate_var, rate_default): (&'static str, u32),
    (burst_var, burst_default): (&'static str, u32),
) -> Result<RateLimit, ConfigError> {
    Ok(RateLimit {
        // 6,000 a minute is one every 10 ms, the finest interval the bucket keeps.
        per_minute: number(env, rate_var, rate_default, 0..=6000)?,
        burst: number(env, burst_var, burst_default, 1..=10_000)?,
    })
}

/// New guest identities per client: a page load without a token makes one, and many customers
/// can share one address behind carrier-grade NAT, so the default is generous.
pub fn new_guests(env: &impl Env) -> Result<RateLimit, ConfigError> {
    limit(
        env,
        (NEW_GUESTS_PER_MINUTE_VAR, 30),
        (NEW_GUESTS_BURST_VAR, 60),
    )
}

/// New chats per client: each one is an agent's task.
pub fn new_chats(env: &impl Env) -> Result<RateLimit, ConfigError> {
    limit(
        env,
        (NEW_CHATS_PER_MINUTE_VAR, 10),
        (NEW_CHATS_BURST_VAR, 20),
    )
}

/// Transcript pages per customer (identity): each is a Twilio read, so a customer polling their
/// transcript cannot spend the account's Twilio rate limits.
pub fn transcript_pages(env: &impl Env) -> Result<RateLimit, ConfigError> {
    limit(
        env,
        (TRANSCRIPT_PAGES_PER_MINUTE_VAR, 30),
        (TRANSCRIPT_PAGES_BURST_VAR, 20),
    )
}

/// What `generate-token` needs beyond [`super::Settings`]: where the new-guest limit is kept.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub table: String,
    pub new_guests: RateLimit,
}

impl TokenSettings {
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(|name| std::env::var(name).ok())
    }

    pub fn from_env(env: impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            table: required(&env, CHANNELS_TABLE_VAR)?,
            new_guests: new_guests(&env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let none = |_: &str| None;
        assert_eq!(
            new_chats(&none).unwrap(),
            RateLimit {
                per_minute: 10,
                burst: 20
            }
        );
        let off = |name: &str| (name == NEW_GUESTS_PER_MINUTE_VAR).then(|| "0".to_owned());
        assert_eq!(new_guests(&off).unwrap().per_minute, 0);
        for (var, value) in [
            (NEW_GUESTS_PER_MINUTE_VAR, "6001"),
            (NEW_CHATS_BURST_VAR, "0"),
            (NEW_CHATS_PER_MINUTE_VAR, "ten"),
        ] {
            let env = |name: &str| (name == var).then(|| value.to_owned());
            let error = new_guests(&env).and(new_chats(&env)).unwrap_err();
            assert!(
                matches!(error, ConfigError::Invalid { var: v, .. } if v == var),
                "{var}"
            );
        }
    }
}
