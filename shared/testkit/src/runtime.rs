//! A function binary run the way Lambda runs it, under a fake Runtime API.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

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
    run_lambda_command(Command::new(binary), env, events).await
}

/// [`run_lambda_binary`] for a prepared command, e.g. a `bootstrap` under an emulator.
pub async fn run_lambda_command(
    mut command: Command,
    env: &[(String, String)],
    events: &[String],
) -> LambdaRun {
    use wiremock::matchers::{method, path, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let runtime = MockServer::start().await;
    let deadline_ms = (flex_handoff::unix_now() + 300) * 1000;
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
    let mut child = command
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

    /// [`Self::assert_no_leak`] for what a caller-facing function holds: `local/dev.env`'s API
    /// key secret and auth token, the basic-auth header Twilio calls carry, and the bearer token
    /// of `event` (an API Gateway event's JSON).
    pub fn assert_no_credential_leak(&self, event: &str) {
        use base64::Engine as _;
        let dev = crate::env::dev_env();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            dev["TWILIO_API_KEY_SID"], dev["TWILIO_API_KEY_SECRET"]
        ));
        let event: serde_json::Value = serde_json::from_str(event).expect("an event's JSON");
        let bearer = event["headers"]["authorization"]
            .as_str()
            .expect("the event carries a bearer token")
            .trim_start_matches("Bearer ");
        self.assert_no_leak(&[
            dev["TWILIO_API_KEY_SECRET"].as_str(),
            dev["TWILIO_AUTH_TOKEN"].as_str(),
            basic.as_str(),
            bearer,
        ]);
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
