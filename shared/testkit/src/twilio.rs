//! Twilio's side in tests: Prism serving Twilio's official OpenAPI specs (request conformance),
//! wiremock stand-ins (stateful behaviour: errors, retries, recovery), and Twilio's own Python
//! library (tokens and signatures cross-checked).

use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};

use crate::env::{channel_settings, graphql_settings, workspace_root};
use crate::process::spawn_server;

/// A Prism mock of one of Twilio's official OpenAPI specs (npm `@twilio-alpha/mcp`, pinned in
/// tools/npm): it answers documented example responses and rejects, with 422, any request that
/// breaks the spec. Stopped on drop.
pub struct PrismServer {
    child: Child,
    pub endpoint: String,
}

impl PrismServer {
    /// `spec` is a file name under `twilio-oai/spec/json/`, e.g. `twilio_flex_v2.json`.
    pub fn start(spec: &str) -> Self {
        let npm = workspace_root().join("tools/npm/node_modules");
        let spec_path = npm
            .join("@twilio-alpha/mcp/twilio-oai/spec/json")
            .join(spec);
        assert!(
            spec_path.exists(),
            "{spec_path:?} missing: run the tests with `make test`"
        );
        let (child, endpoint) = spawn_server("prism", Duration::from_secs(60), |port| {
            let mut command = Command::new(npm.join(".bin/prism"));
            command
                .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
                .arg(&spec_path);
            command
        });
        Self { child, endpoint }
    }
}

impl Drop for PrismServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `flex_handoff_dev.local_twilio`, `make dev`'s stateful Twilio, in front of Prism mocks of the five specs
/// this product calls. Stopped on drop.
pub struct LocalTwilio {
    child: Child,
    _prisms: Vec<PrismServer>,
    pub endpoint: String,
}

impl LocalTwilio {
    pub fn start(auth_token: &str) -> Self {
        let prisms: Vec<PrismServer> = [
            "twilio_flex_v1.json",
            "twilio_flex_v2.json",
            "twilio_chat_v2.json",
            "twilio_conversations_v1.json",
            "twilio_taskrouter_v1.json",
        ]
        .into_iter()
        .map(PrismServer::start)
        .collect();
        let (child, endpoint) = spawn_server("local Twilio", Duration::from_secs(30), |port| {
            let mut command = Command::new("python3");
            command
                .args(["-m", "flex_handoff_dev.local_twilio"])
                .arg(port.to_string())
                .arg(auth_token);
            command.args(prisms.iter().map(|prism| prism.endpoint.as_str()));
            command
        });
        Self {
            child,
            _prisms: prisms,
            endpoint,
        }
    }
}

impl Drop for LocalTwilio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The conversation SID the Twilio stand-ins hand out for `POST /v2/WebChats`.
pub const STAND_IN_CONVERSATION_SID: &str = "CH0123456789abcdef0123456789abcdef";
/// The channel SID the Twilio stand-ins hand out for `POST /v1/Channels`.
pub const STAND_IN_CHANNEL_SID: &str = "CHfedcba9876543210fedcba9876543210";
/// The conversation SID the stand-ins hand out for `POST ConversationWithParticipants`.
pub const STAND_IN_CUSTOM_CONVERSATION_SID: &str = "CH00112233445566778899aabbccddeeff";
/// The Interaction and Interaction channel SIDs of `POST /v1/Interactions`.
pub const STAND_IN_INTERACTION_SID: &str = "KD0123456789abcdef0123456789abcdef";
pub const STAND_IN_INTERACTION_CHANNEL_SID: &str = "UO0123456789abcdef0123456789abcdef";

/// wiremock stand-ins for Twilio's Flex, Chat, Conversations and TaskRouter hosts: they record
/// requests and answer only what a test mounts, or, after [`TwilioStandIns::answer_normally`],
/// as Twilio does.
pub struct TwilioStandIns {
    pub flex: wiremock::MockServer,
    pub chat: wiremock::MockServer,
    pub conversations: wiremock::MockServer,
    pub taskrouter: wiremock::MockServer,
}

impl TwilioStandIns {
    pub async fn start() -> Self {
        Self {
            flex: wiremock::MockServer::start().await,
            chat: wiremock::MockServer::start().await,
            conversations: wiremock::MockServer::start().await,
            taskrouter: wiremock::MockServer::start().await,
        }
    }

    /// Every mode succeeds: chats open and end, webhooks register, history posts, the Flex Flow
    /// takes web chat, Interactions make tasks. No conversation has a unique name yet, no task exists
    /// and chats start without messages, unless a test mounts otherwise.
    pub async fn answer_normally(&self) {
        use wiremock::matchers::{method, path, path_regex};
        use wiremock::{Mock, ResponseTemplate};
        let created = |body: Value| ResponseTemplate::new(201).set_body_json(body);
        Mock::given(method("POST"))
            .and(path("/v2/WebChats"))
            .respond_with(created(
                json!({"conversation_sid": STAND_IN_CONVERSATION_SID, "identity": "x"}),
            ))
            .mount(&self.flex)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/Channels"))
            .respond_with(created(json!({"sid": STAND_IN_CHANNEL_SID})))
            .mount(&self.flex)
            .await;
        Mock::given(method("GET"))
            .and(path_regex("^/v1/FlexFlows/FO[0-9a-fA-F]{32}$"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"channel_type": "web", "enabled": true})),
            )
            .mount(&self.flex)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/Interactions"))
            .respond_with(created(json!({
                "sid": STAND_IN_INTERACTION_SID,
                "channel": {"type": "web", "sid": STAND_IN_INTERACTION_CHANNEL_SID},
            })))
            .mount(&self.flex)
            .await;
        Mock::given(method("POST"))
            .and(path_regex("/ConversationWithParticipants$"))
            .respond_with(created(
                json!({"sid": STAND_IN_CUSTOM_CONVERSATION_SID, "state": "active"}),
            ))
            .mount(&self.conversations)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(
                "^/v1/Services/IS[0-9a-fA-F]{32}/Conversations/[^/]+$",
            ))
            .respond_with(ResponseTemplate::new(404).set_body_json(json!({
                "code": 20404, "message": "The requested resource was not found", "status": 404
            })))
            .with_priority(10)
            .mount(&self.conversations)
            .await;
        // A queue with two agents available, one task waiting and a 40 s recent wait.
        Mock::given(method("GET"))
            .and(path_regex("/RealTimeStatistics$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "total_available_workers": 2,
                "tasks_by_status": {"pending": 1, "reserved": 0, "assigned": 3},
                "longest_task_waiting_age": 25,
            })))
            .with_priority(10)
            .mount(&self.taskrouter)
            .await;
        Mock::given(method("GET"))
            .and(path_regex("/CumulativeStatistics$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "reservations_accepted": 12,
                "wait_duration_until_accepted": {"avg": 40, "min": 5, "max": 180, "total": 480},
            })))
            .with_priority(10)
            .mount(&self.taskrouter)
            .await;
        Mock::given(method("GET"))
            .and(path_regex("/Tasks$"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"tasks": [], "meta": {}})),
            )
            .with_priority(10)
            .mount(&self.taskrouter)
            .await;
        for host in [&self.chat, &self.conversations] {
            // No chat has a webhook yet, unless a test mounts otherwise.
            Mock::given(method("GET"))
                .and(path_regex("/Webhooks$"))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(json!({"webhooks": [], "meta": {"key": "webhooks"}})),
                )
                .with_priority(10)
                .mount(host)
                .await;
            Mock::given(method("POST"))
                .and(path_regex("/Webhooks$"))
                .respond_with(created(
                    json!({"sid": "WH00000000000000000000000000000000"}),
                ))
                .mount(host)
                .await;
            Mock::given(method("POST"))
                .and(path_regex("/Messages$"))
                .respond_with(created(
                    json!({"sid": "IM00000000000000000000000000000000"}),
                ))
                .mount(host)
                .await;
            Mock::given(method("GET"))
                .and(path_regex("/Messages$"))
                .respond_with(
                    ResponseTemplate::new(200).set_body_json(json!({"messages": [], "meta": {}})),
                )
                .with_priority(10)
                .mount(host)
                .await;
        }
        // Ending chats: conversations close, Interaction channels close, legacy channels are
        // read (active) and updated.
        Mock::given(method("POST"))
            .and(path_regex(
                "^/v1/Services/IS[0-9a-fA-F]{32}/Conversations/CH[0-9a-fA-F]{32}$",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"state": "closed"})))
            .with_priority(10)
            .mount(&self.conversations)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(
                "^/v1/Interactions/KD[0-9a-fA-F]{32}/Channels/UO[0-9a-fA-F]{32}$",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "closed"})))
            .with_priority(10)
            .mount(&self.flex)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(
                "^/v2/Services/IS[0-9a-fA-F]{32}/Channels/CH[0-9a-fA-F]{32}$",
            ))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"attributes": r#"{"status":"ACTIVE"}"#})),
            )
            .with_priority(10)
            .mount(&self.chat)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(
                "^/v2/Services/IS[0-9a-fA-F]{32}/Channels/CH[0-9a-fA-F]{32}$",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
            .with_priority(10)
            .mount(&self.chat)
            .await;
        // Lower priority than a test's own list: by default the identity has no conversations.
        Mock::given(method("GET"))
            .and(path_regex("/ParticipantConversations$"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"conversations": [], "meta": {}})),
            )
            .with_priority(10)
            .mount(&self.conversations)
            .await;
    }

    /// Every identity's participant conversations list one active conversation, `sid`: what a
    /// create whose answer was lost, or a request that died, left in Twilio.
    pub async fn list_active_conversation(&self, sid: &str) {
        use wiremock::matchers::{method, path_regex};
        use wiremock::{Mock, ResponseTemplate};
        Mock::given(method("GET"))
            .and(path_regex("/ParticipantConversations$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "conversations": [{
                    "conversation_sid": sid,
                    "conversation_state": "active",
                    "conversation_date_created": "2026-12-04T10:00:00Z"
                }],
                "meta": {}
            })))
            .with_priority(1)
            .mount(&self.conversations)
            .await;
    }

    /// The environment that points a function at these stand-ins.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("TWILIO_FLEX_API_URL".into(), self.flex.uri()),
            ("TWILIO_CHAT_API_URL".into(), self.chat.uri()),
            (
                "TWILIO_CONVERSATIONS_API_URL".into(),
                self.conversations.uri(),
            ),
            ("TWILIO_TASKROUTER_API_URL".into(), self.taskrouter.uri()),
        ]
    }

    /// Channel settings (`local/dev.env`) pointing at these stand-ins, with `overrides` on top.
    pub fn channel_settings(
        &self,
        overrides: &[(&str, &str)],
    ) -> flex_handoff::handlers::channel::ChannelSettings {
        self.with_hosts(overrides, channel_settings)
    }

    /// reconcile-chats' settings (`local/dev.env`) pointing at these stand-ins, `overrides` on top.
    pub fn reconcile_settings(
        &self,
        overrides: &[(&str, &str)],
    ) -> flex_handoff::config::ReconcileSettings {
        self.with_hosts(overrides, crate::env::reconcile_settings)
    }

    /// chat-graphql's settings (`local/dev.env`) pointing at these stand-ins, `overrides` on top.
    pub fn graphql_settings(
        &self,
        overrides: &[(&str, &str)],
    ) -> flex_handoff::config::GraphqlSettings {
        self.with_hosts(overrides, graphql_settings)
    }

    fn with_hosts<T>(&self, overrides: &[(&str, &str)], settings: fn(&[(&str, &str)]) -> T) -> T {
        let hosts = self.env();
        let mut all: Vec<(&str, &str)> = hosts
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.extend_from_slice(overrides);
        settings(&all)
    }

    /// The requests one host received on paths ending with `route`.
    pub async fn requests(server: &wiremock::MockServer, route: &str) -> Vec<wiremock::Request> {
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|request| request.url.path().ends_with(route))
            .collect()
    }
}

/// Runs `flex_handoff_dev.twilio_helper` (Twilio's own Python library) and returns its
/// trimmed stdout; `Err` carries stderr when it exits non-zero. `python3` on PATH must have the
/// pinned `twilio` package: `make test` puts `.venv/bin` first.
pub fn twilio_helper(args: &[&str]) -> Result<String, String> {
    let output = Command::new("python3")
        .args(["-m", "flex_handoff_dev.twilio_helper"])
        .args(args)
        .output()
        .expect("python3 runs (use `make test`, which installs the pinned twilio library)");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// `X-Twilio-Signature` for a form POST of `params` to `url`, as Twilio's library computes it.
pub fn twilio_form_signature(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let pairs = serde_json::to_string(params).expect("pairs serialize");
    twilio_helper(&["sign", auth_token, url, &pairs]).expect("twilio signs")
}
