//! The local dev configuration (`local/dev.env`) as tests use it: the workspace's files, and
//! settings with per-test overrides.

use std::collections::HashMap;
use std::path::PathBuf;

use flex_handoff::config::Settings;

/// The workspace root, wherever a test's working directory is (this crate is `shared/testkit`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("shared/testkit sits two levels below the workspace root")
        .to_path_buf()
}

/// `local/dev.env` as a map: the throwaway configuration of local runs, events and tests.
pub fn dev_env() -> HashMap<String, String> {
    let text = std::fs::read_to_string(workspace_root().join("local/dev.env"))
        .expect("local/dev.env is readable");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `local/dev.env` with `overrides` applied.
pub fn dev_env_with(overrides: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env = dev_env();
    for (key, value) in overrides {
        env.insert((*key).to_owned(), (*value).to_owned());
    }
    env
}

/// Settings from `local/dev.env` with `overrides` applied (an empty value removes a variable).
pub fn dev_settings(overrides: &[(&str, &str)]) -> Settings {
    let env = dev_env_with(overrides);
    Settings::from_sources(
        |name| env.get(name).cloned().filter(|v| !v.is_empty()),
        None,
    )
    .expect("dev settings are valid")
}

/// chat-graphql's settings for tests: `local/dev.env` plus the given overrides.
pub fn graphql_settings(overrides: &[(&str, &str)]) -> flex_handoff::config::GraphqlSettings {
    let env = dev_env_with(overrides);
    flex_handoff::config::GraphqlSettings::from_env(|name| {
        env.get(name).cloned().filter(|v| !v.is_empty())
    })
    .expect("test GraphQL settings are valid")
}

/// Channel settings for tests: `local/dev.env` plus the given overrides (e.g. host URLs).
pub fn channel_settings(
    overrides: &[(&str, &str)],
) -> flex_handoff::handlers::channel::ChannelSettings {
    let env = dev_env_with(overrides);
    flex_handoff::handlers::channel::ChannelSettings::from_env(|name| {
        env.get(name).cloned().filter(|v| !v.is_empty())
    })
    .expect("test channel settings are valid")
}

/// reconcile-chats' settings for tests: `local/dev.env` plus the given overrides.
pub fn reconcile_settings(overrides: &[(&str, &str)]) -> flex_handoff::config::ReconcileSettings {
    let env = dev_env_with(overrides);
    flex_handoff::config::ReconcileSettings::from_env(|name| {
        env.get(name).cloned().filter(|v| !v.is_empty())
    })
    .expect("test reconcile settings are valid")
}
