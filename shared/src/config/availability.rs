//! Which TaskRouter queue `GET /availability` (and GraphQL's `availability`) describes, and how
//! long its statistics are reused. Twilio asks that statistics be cached; each function keeps
//! them per warm instance, and all instances share one item per queue in the table.

use super::ConfigError;
use super::env::{Env, number, required_sid, sid};
use crate::ids::SidKind;

pub const WORKSPACE_SID_VAR: &str = "TWILIO_WORKSPACE_SID";
pub const TASK_QUEUE_SID_VAR: &str = "TWILIO_TASK_QUEUE_SID";
pub const AVAILABILITY_REFRESH_VAR: &str = "AVAILABILITY_REFRESH_SECONDS";
pub const AVAILABILITY_INSTANCE_CACHE_VAR: &str = "AVAILABILITY_INSTANCE_CACHE_SECONDS";

/// At most one statistics refresh per queue this often, over every instance.
pub const DEFAULT_REFRESH_SECONDS: u32 = 10;
/// A warm instance reuses what it read from the table (schedule and statistics) this long.
pub const DEFAULT_INSTANCE_CACHE_SECONDS: u32 = 5;

/// The queue a chat is routed to: its statistics are the customer's wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskQueue {
    pub workspace_sid: String,
    pub task_queue_sid: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvailabilitySettings {
    /// `None`: no queue configured; availability is the opening hours alone, with the
    /// statistics fields `null`. The schedule is then kept under the name `default`.
    pub queue: Option<TaskQueue>,
    pub refresh_seconds: u32,
    pub instance_cache_seconds: u32,
}

impl AvailabilitySettings {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let queue = match task_queue_sid(env)? {
            None => None,
            Some(task_queue_sid) => Some(TaskQueue {
                workspace_sid: required_sid(env, WORKSPACE_SID_VAR, SidKind::Workspace)?,
                task_queue_sid,
            }),
        };
        Ok(Self {
            queue,
            refresh_seconds: number(
                env,
                AVAILABILITY_REFRESH_VAR,
                DEFAULT_REFRESH_SECONDS,
                2..=300,
            )?,
            instance_cache_seconds: number(
                env,
                AVAILABILITY_INSTANCE_CACHE_VAR,
                DEFAULT_INSTANCE_CACHE_SECONDS,
                0..=60,
            )?,
        })
    }

    /// The name the queue's schedule and statistics are kept under.
    pub fn queue_name(&self) -> &str {
        self.queue
            .as_ref()
            .map_or(DEFAULT_QUEUE_NAME, |queue| queue.task_queue_sid.as_str())
    }
}

/// `TWILIO_TASK_QUEUE_SID`, checked, if set.
fn task_queue_sid(env: &impl Env) -> Result<Option<String>, ConfigError> {
    let Some(task_queue_sid) = env(TASK_QUEUE_SID_VAR).filter(|value| !value.is_empty()) else {
        return Ok(None);
    };
    sid(TASK_QUEUE_SID_VAR, SidKind::TaskQueue, &task_queue_sid)?;
    Ok(Some(task_queue_sid))
}

/// The name a chat's queue is kept under, for a function that records to it but never reads
/// TaskRouter (flex-webhook, recording acceptances): the same as
/// [`AvailabilitySettings::queue_name`].
pub fn queue_name_from_env(env: &impl Env) -> Result<String, ConfigError> {
    Ok(task_queue_sid(env)?.unwrap_or_else(|| DEFAULT_QUEUE_NAME.to_owned()))
}

/// The queue name of a deployment without a TaskRouter queue configured.
pub const DEFAULT_QUEUE_NAME: &str = "default";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<AvailabilitySettings, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AvailabilitySettings::from_env(&|name: &str| env.get(name).cloned())
    }

    #[test]
    fn a_queue_needs_its_workspace_and_both_must_be_sids() {
        let none = load(&[]).unwrap();
        assert_eq!(none.queue, None);
        assert_eq!(none.queue_name(), "default");
        assert_eq!((none.refresh_seconds, none.instance_cache_seconds), (10, 5));
        let queue = format!("WQ{}", "a".repeat(32));
        let workspace = format!("WS{}", "b".repeat(32));
        let set = load(&[
            (TASK_QUEUE_SID_VAR, &queue),
            (WORKSPACE_SID_VAR, &workspace),
        ])
        .unwrap();
        assert_eq!(set.queue_name(), queue);
        let env = |name: &str| (name == TASK_QUEUE_SID_VAR).then(|| queue.clone());
        assert_eq!(queue_name_from_env(&env).unwrap(), queue);
        assert_eq!(queue_name_from_env(&|_: &str| None).unwrap(), "default");
        let bad = |name: &str| (name == TASK_QUEUE_SID_VAR).then(|| "WQ1".to_owned());
        assert!(queue_name_from_env(&bad).is_err());
        assert_eq!(
            load(&[(TASK_QUEUE_SID_VAR, &queue)]).unwrap_err(),
            ConfigError::Missing {
                var: WORKSPACE_SID_VAR
            }
        );
        for (var, value) in [
            (TASK_QUEUE_SID_VAR, workspace.as_str()),
            (AVAILABILITY_REFRESH_VAR, "1"),
            (AVAILABILITY_INSTANCE_CACHE_VAR, "61"),
        ] {
            let mut pairs = vec![
                (TASK_QUEUE_SID_VAR, queue.as_str()),
                (WORKSPACE_SID_VAR, workspace.as_str()),
            ];
            pairs.push((var, value));
            assert!(
                matches!(load(&pairs), Err(ConfigError::Invalid { var: v, .. }) if v == var),
                "{var}"
            );
        }
    }
}
