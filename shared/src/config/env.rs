//! Reading one environment variable into a typed value. Every error names the variable, never
//! the value: a misconfigured secret must not reach the logs through its error.

use crate::ids::{SidKind, check_sid};

use super::ConfigError;

/// The process environment, or a map in tests.
pub trait Env: Fn(&str) -> Option<String> {}
impl<F: Fn(&str) -> Option<String>> Env for F {}

pub fn required(env: &impl Env, var: &'static str) -> Result<String, ConfigError> {
    env(var)
        .filter(|value| !value.is_empty())
        .ok_or(ConfigError::Missing { var })
}

pub fn sid(var: &'static str, kind: SidKind, value: &str) -> Result<(), ConfigError> {
    check_sid(kind, value).map_err(|reason| ConfigError::Invalid { var, reason })
}

/// A required SID of `kind`.
pub fn required_sid(
    env: &impl Env,
    var: &'static str,
    kind: SidKind,
) -> Result<String, ConfigError> {
    let value = required(env, var)?;
    sid(var, kind, &value)?;
    Ok(value)
}

pub fn flag(env: &impl Env, var: &'static str, default: bool) -> Result<bool, ConfigError> {
    match env(var).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(_) => Err(ConfigError::Invalid {
            var,
            reason: "must be true or false".into(),
        }),
    }
}

pub fn number(
    env: &impl Env,
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

pub fn check_url(var: &'static str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            var,
            reason: "must be an http(s) URL".into(),
        })
    }
}

/// A required http(s) URL.
pub fn required_url(env: &impl Env, var: &'static str) -> Result<String, ConfigError> {
    let url = required(env, var)?;
    check_url(var, &url)?;
    Ok(url)
}
