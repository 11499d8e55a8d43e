//! Helpers for this workspace's tests (feature `test-support`): API Gateway events, the local
//! dev settings, and real local servers (moto) started per test binary.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::Settings;

/// The workspace root (tests run with the crate's directory as cwd).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("shared/ has a parent")
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

/// An API Gateway HTTP API (payload 2.0) event, as JSON text.
pub struct EventBuilder {
    event: Value,
}

impl EventBuilder {
    pub fn new(method: &str, path: &str) -> Self {
        let event = json!({
            "version": "2.0",
            "routeKey": format!("{method} {path}"),
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"content-type": "application/json", "host": "api.example.com"},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api1234567",
                "domainName": "api.example.com",
                "domainPrefix": "api",
                "http": {
                    "method": method, "path": path, "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.10", "userAgent": "test"
                },
                "requestId": "req-test-1",
                "routeKey": format!("{method} {path}"),
                "stage": "$default",
                "time": "23/Nov/2026:10:00:00 +0000",
                "timeEpoch": 1_795_000_000_000_i64
            },
            "isBase64Encoded": false
        });
        Self { event }
    }

    pub fn body(mut self, body: &str) -> Self {
        self.event["body"] = json!(body);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.event["headers"][name] = json!(value);
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Claims as an API Gateway JWT authorizer passes them.
    pub fn claims(mut self, claims: &[(&str, &str)]) -> Self {
        let claims: serde_json::Map<String, Value> = claims
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        self.event["requestContext"]["authorizer"] =
            json!({"jwt": {"claims": claims, "scopes": null}});
        self
    }

    pub fn to_json(&self) -> String {
        self.event.to_string()
    }

    pub fn request(&self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.to_json()).expect("valid API Gateway event")
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("an ephemeral port")
}

/// Starts the server `command(port)` builds on a free loopback port and waits until it listens.
/// Its output is discarded; a failure to start names the tool and how to get it.
fn spawn_server(
    what: &str,
    within: Duration,
    command: impl FnOnce(u16) -> Command,
) -> (Child, String) {
    let port = free_port();
    let child = command(port)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} does not start ({e}): run the tests with `make test`"));
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, format!("http://127.0.0.1:{port}"))
}

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
        crate::aws::sdk_config_loader()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .endpoint_url(&self.endpoint)
            .load()
            .await
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a Lambda binary did under [`run_lambda_binary`].
pub struct LambdaRun {
    /// The API Gateway responses it posted, in invocation order.
    pub responses: Vec<Value>,
    /// Everything it wrote to stdout and stderr.
    pub output: String,
    /// Set when the process ended by itself (for example a failed cold start).
    pub exit_code: Option<i32>,
}

/// Runs a function binary the way Lambda does: a (fake) Runtime API hands it `events` one by one
/// and collects its responses; then the process is stopped. `env` is its whole environment
/// besides the runtime's own variables.
pub async fn run_lambda_binary(
    binary: &str,
    env: &[(String, String)],
    events: &[String],
) -> LambdaRun {
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let runtime = MockServer::start().await;
    let deadline_ms = (crate::unix_now() + 300) * 1000;
    for (index, event) in events.iter().enumerate() {
        Mock::given(method("GET"))
            .and(path("/2018-06-01/runtime/invocation/next"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header(
                        "lambda-runtime-aws-request-id",
                        format!("invocation-{index}").as_str(),
                    )
                    .insert_header(
                        "lambda-runtime-deadline-ms",
                        deadline_ms.to_string().as_str(),
                    )
                    .insert_header(
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:test",
                    )
                    .set_body_raw(event.clone(), "application/json"),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&runtime)
            .await;
    }
    // After the last event the runtime long-polls, as it would in Lambda, until it is stopped.
    Mock::given(method("GET"))
        .and(path("/2018-06-01/runtime/invocation/next"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .with_priority(2)
        .mount(&runtime)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(
            r"^/2018-06-01/runtime/invocation/[^/]+/response$",
        ))
        .respond_with(ResponseTemplate::new(202))
        .mount(&runtime)
        .await;

    let log_path = std::env::temp_dir().join(format!("lambda-run-{}.log", uuid::Uuid::new_v4()));
    let log = std::fs::File::create(&log_path).expect("temp log file");
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address().to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "test")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("the function binary starts");

    let give_up = Instant::now() + Duration::from_secs(60);
    let mut exit_code = None;
    loop {
        let posted = runtime
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|request| request.method == wiremock::http::Method::POST)
            .count();
        if posted >= events.len() {
            break;
        }
        if let Some(status) = child.try_wait().expect("child status") {
            exit_code = Some(status.code().unwrap_or(-1));
            break;
        }
        assert!(
            Instant::now() < give_up,
            "the function did not answer within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();

    let mut posted: Vec<(usize, Value)> = runtime
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|request| request.method == wiremock::http::Method::POST)
        .map(|request| {
            let index = request
                .url
                .path()
                .trim_start_matches("/2018-06-01/runtime/invocation/invocation-")
                .trim_end_matches("/response")
                .parse()
                .expect("our request ids");
            (
                index,
                serde_json::from_slice(&request.body).expect("JSON response"),
            )
        })
        .collect();
    posted.sort_by_key(|(index, _)| *index);
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);
    LambdaRun {
        responses: posted.into_iter().map(|(_, response)| response).collect(),
        output,
        exit_code,
    }
}

/// An event file of `events/`, as text.
pub fn event_file(name: &str) -> String {
    std::fs::read_to_string(workspace_root().join("events").join(name)).expect("event file")
}

/// The body of an API Gateway response a function posted, parsed as JSON.
pub fn response_body(response: &Value) -> Value {
    let body = response["body"].as_str().expect("response has a body");
    let text = if response["isBase64Encoded"].as_bool() == Some(true) {
        use base64::Engine as _;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap(),
        )
        .unwrap()
    } else {
        body.to_owned()
    };
    serde_json::from_str(&text).expect("JSON body")
}

impl MotoServer {
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

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }
}

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

/// Channel settings for tests: `local/dev.env` plus the given overrides (e.g. host URLs).
pub fn channel_settings(overrides: &[(&str, &str)]) -> crate::config::ChannelSettings {
    let env = dev_env_with(overrides);
    crate::config::ChannelSettings::from_env(|name| {
        env.get(name).cloned().filter(|v| !v.is_empty())
    })
    .expect("test channel settings are valid")
}

/// The conversation SID the Twilio stand-ins hand out for `POST /v2/WebChats`.
pub const STAND_IN_CONVERSATION_SID: &str = "CH0123456789abcdef0123456789abcdef";
/// The channel SID the Twilio stand-ins hand out for `POST /v1/Channels`.
pub const STAND_IN_CHANNEL_SID: &str = "CHfedcba9876543210fedcba9876543210";

/// wiremock stand-ins for Twilio's Flex, Chat and Conversations hosts: they record requests and
/// answer only what a test mounts, or, after [`TwilioStandIns::answer_normally`], as Twilio does.
pub struct TwilioStandIns {
    pub flex: wiremock::MockServer,
    pub chat: wiremock::MockServer,
    pub conversations: wiremock::MockServer,
}

impl TwilioStandIns {
    pub async fn start() -> Self {
        Self {
            flex: wiremock::MockServer::start().await,
            chat: wiremock::MockServer::start().await,
            conversations: wiremock::MockServer::start().await,
        }
    }

    /// Both Flex generations succeed: chats open, webhooks register, the Flex Flow takes web chat.
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
        for host in [&self.chat, &self.conversations] {
            Mock::given(method("POST"))
                .and(path_regex("/Webhooks$"))
                .respond_with(created(
                    json!({"sid": "WH00000000000000000000000000000000"}),
                ))
                .mount(host)
                .await;
        }
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

    /// The environment that points a function at these stand-ins.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("TWILIO_FLEX_API_URL".into(), self.flex.uri()),
            ("TWILIO_CHAT_API_URL".into(), self.chat.uri()),
            (
                "TWILIO_CONVERSATIONS_API_URL".into(),
                self.conversations.uri(),
            ),
        ]
    }

    /// Channel settings (`local/dev.env`) pointing at these stand-ins, with `overrides` on top.
    pub fn channel_settings(&self, overrides: &[(&str, &str)]) -> crate::config::ChannelSettings {
        let hosts = self.env();
        let mut all: Vec<(&str, &str)> = hosts
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.extend_from_slice(overrides);
        channel_settings(&all)
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

/// Runs `shared/tests/support/twilio_helper.py` (Twilio's own Python library) and returns its
/// trimmed stdout; `Err` carries stderr when it exits non-zero. `python3` on PATH must have the
/// pinned `twilio` package: `make test` puts `.venv/bin` first.
pub fn twilio_helper(args: &[&str]) -> Result<String, String> {
    let script = workspace_root().join("shared/tests/support/twilio_helper.py");
    let output = Command::new("python3")
        .arg(script)
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

impl MotoServer {
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

impl LambdaRun {
    /// The HTTP status of each response, in invocation order.
    pub fn statuses(&self) -> Vec<u64> {
        self.responses
            .iter()
            .map(|response| response["statusCode"].as_u64().expect("a statusCode"))
            .collect()
    }

    /// Fails, showing the output, if any of `secrets` appears in what the process wrote.
    pub fn assert_no_leak(&self, secrets: &[&str]) {
        for secret in secrets {
            assert!(
                !self.output.contains(secret),
                "the output leaks {secret:.12}…:\n{}",
                self.output
            );
        }
    }

    /// Fails unless the process ended by itself, non-zero, before answering, saying `reason`.
    pub fn assert_failed_cold_start(&self, reason: &str) {
        assert!(
            self.exit_code.is_some_and(|code| code != 0),
            "{}",
            self.output
        );
        assert!(self.responses.is_empty(), "{}", self.output);
        assert!(
            self.output.contains(reason),
            "no {reason:?} in:\n{}",
            self.output
        );
    }
}
