//! A real DynamoDB- and Secrets-Manager-compatible server (moto) per test binary.

use std::process::{Child, Command};
use std::time::Duration;

use flex_handoff::aws::LambdaEnvironment;
use flex_handoff::store::{ActiveChat, ChannelStore};

use crate::process::spawn_server;

/// moto (DynamoDB, Secrets Manager, …) on a free loopback port, stopped on drop, served by
/// `local/moto_atomic.py`: every request under one lock, so conditional writes and transactions
/// are atomic as in DynamoDB. `python3` on PATH must have the pinned `moto[server]`: `make test`
/// puts `.venv/bin` first.
pub struct MotoServer {
    child: Child,
    pub endpoint: String,
}

impl MotoServer {
    pub fn start() -> Self {
        // The control: FLEX_HANDOFF_PLAIN_MOTO=1 runs a test against moto without the lock.
        let plain = std::env::var_os("FLEX_HANDOFF_PLAIN_MOTO").is_some();
        let (child, endpoint) = spawn_server("moto", Duration::from_secs(30), |port| {
            let mut command = if plain {
                Command::new("moto_server")
            } else {
                let mut command = Command::new("python3");
                command.args(["-m", "flex_handoff_dev.moto_atomic"]);
                command
            };
            command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            command
        });
        Self { child, endpoint }
    }

    /// What a function process started with [`Self::function_env`] reads: the clients below
    /// are built exactly as the functions build theirs.
    fn lambda_environment(&self) -> LambdaEnvironment {
        let env = self.function_env();
        LambdaEnvironment::from_env(|name| {
            env.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
        .expect("function_env has a region and credentials")
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.lambda_environment().dynamodb_client()
    }

    pub fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        self.lambda_environment().secrets_manager_client()
    }

    /// Creates a Secrets Manager secret holding `document` (as JSON text) and returns its ARN.
    pub async fn create_secret(&self, name: &str, document: &serde_json::Value) -> String {
        self.secrets_manager()
            .create_secret()
            .name(name)
            .secret_string(document.to_string())
            .send()
            .await
            .expect("moto creates the secret")
            .arn
            .expect("a created secret has an ARN")
    }

    /// Creates a channels table with a fresh name from template.yaml's schema
    /// (`flex_handoff_dev.create_table`, so the schema has one source) and returns its name.
    pub fn create_channels_table(&self) -> String {
        let name = format!("channels-{}", uuid::Uuid::new_v4().simple());
        let status = Command::new("python3")
            .args(["-m", "flex_handoff_dev.create_table", &self.endpoint, &name])
            .status()
            .expect("python3 runs flex_handoff_dev.create_table");
        assert!(status.success(), "create_table failed");
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

/// An active legacy-mode chat for `identity`, opened now, as `create-channel` leaves it.
pub async fn open_chat(store: &ChannelStore, identity: &str, sid: &str) {
    let now = flex_handoff::unix_now();
    let chat = ActiveChat {
        identity: identity.into(),
        channel_sid: sid.into(),
        mode: flex_handoff::flex::FlexMode::Chat,
        created_at: now,
        confirmed_at: now,
        interaction: None,
    };
    open_chat_as(store, &chat).await;
}

/// `chat`, opened as `create-channel` opens it: claimed in its mode at its creation time, then
/// activated.
pub async fn open_chat_as(store: &ChannelStore, chat: &ActiveChat) {
    let claim = uuid::Uuid::new_v4().to_string();
    let identity = &chat.identity;
    assert!(
        store
            .claim(identity, &claim, &claim, chat.mode, chat.created_at, 15)
            .await
            .unwrap()
            .won(),
        "{identity}'s slot is free"
    );
    assert!(
        store.activate(&claim, chat).await.unwrap(),
        "the claim holds"
    );
}
