//! A real DynamoDB- and Secrets-Manager-compatible server (moto) per test binary.

use std::process::{Child, Command};
use std::time::Duration;

use crate::env::workspace_root;
use crate::process::spawn_server;

/// A `moto_server` (DynamoDB, Secrets Manager, …) on a free loopback port, stopped on drop.
/// `moto_server` must be on PATH: `make test` puts the pinned one from `.venv` there.
pub struct MotoServer {
    child: Child,
    pub endpoint: String,
}

impl MotoServer {
    pub fn start() -> Self {
        let (child, endpoint) = spawn_server("moto_server", Duration::from_secs(30), |port| {
            let mut command = Command::new("moto_server");
            command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            command
        });
        Self { child, endpoint }
    }

    /// SDK config for this server: dummy credentials, fixed region, endpoint override.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        flex_handoff::aws::sdk_config_loader()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .endpoint_url(&self.endpoint)
            .load()
            .await
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    /// Creates a channels table with a fresh name from template.yaml's schema
    /// (`local/create_table.py`, so the schema has one source) and returns its name.
    pub fn create_channels_table(&self) -> String {
        let name = format!("channels-{}", uuid::Uuid::new_v4().simple());
        let status = Command::new("python3")
            .arg(workspace_root().join("local/create_table.py"))
            .args([&self.endpoint, &name])
            .status()
            .expect("python3 runs local/create_table.py");
        assert!(status.success(), "create_table.py failed");
        name
    }

    /// What a function process needs to use this server for DynamoDB and Secrets Manager.
    pub fn function_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL_DYNAMODB", self.endpoint.as_str()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", self.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An active chat for `identity`, as `create-channel` leaves it: claimed, then activated.
pub async fn open_chat(store: &flex_handoff::store::ChannelStore, identity: &str, sid: &str) {
    let now = flex_handoff::unix_now();
    assert!(
        store.claim(identity, "c", "chat", now, 15).await.unwrap(),
        "{identity}'s slot is free"
    );
    let chat = flex_handoff::store::ActiveChat {
        identity: identity.into(),
        channel_sid: sid.into(),
        mode: "chat".into(),
        created_at: now,
    };
    assert!(store.activate("c", &chat).await.unwrap(), "the claim holds");
}
