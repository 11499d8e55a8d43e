//! A function binary run the way Lambda runs it, under the project's one Runtime API emulator
//! (`python3 -m flex_handoff_dev.runtime_api run`, which `make bench` and the load suite use too).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// What a Lambda binary did under [`run_lambda_binary`].
pub struct LambdaRun {
    /// The API Gateway responses it posted, in invocation order.
    pub responses: Vec<Value>,
    /// Everything it wrote to stdout and stderr.
    pub output: String,
    /// Set when the process ended by itself (for example a failed cold start); -1 for a signal.
    pub exit_code: Option<i32>,
}

/// Runs a function binary the way Lambda does: the Runtime API hands it `events` one by one and
/// collects its responses; then the process is stopped. `env` is its whole environment besides
/// the runtime's own variables.
pub async fn run_lambda_binary(
    binary: &str,
    env: &[(String, String)],
    events: &[String],
) -> LambdaRun {
    run_lambda_command(Command::new(binary), env, events).await
}

/// [`run_lambda_binary`] for a prepared command (its program and arguments), e.g. a `bootstrap`
/// under an emulator. Only `env` reaches the process, as in [`run_lambda_binary`].
pub async fn run_lambda_command(
    command: Command,
    env: &[(String, String)],
    events: &[String],
) -> LambdaRun {
    let mut argv = vec![command.get_program().to_string_lossy().into_owned()];
    argv.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    let env: serde_json::Map<String, Value> = env
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let job = json!({ "command": argv, "env": env, "events": events }).to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let mut emulator = Command::new("python3")
            .args(["-m", "flex_handoff_dev.runtime_api", "run"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs flex_handoff_dev.runtime_api (make tools installs it)");
        emulator
            .stdin
            .take()
            .expect("stdin")
            .write_all(job.as_bytes())
            .expect("the job reaches the emulator");
        emulator.wait_with_output().expect("the emulator ends")
    })
    .await
    .expect("the emulator's thread");
    assert!(
        answer.status.success(),
        "the Runtime API emulator failed: {}",
        String::from_utf8_lossy(&answer.stdout)
    );
    let run: Value = serde_json::from_slice(&answer.stdout).expect("the emulator's JSON");
    LambdaRun {
        responses: run["responses"].as_array().cloned().unwrap_or_default(),
        output: run["output"].as_str().unwrap_or_default().to_owned(),
        exit_code: run["exit_code"]
            .as_i64()
            .map(|code| i32::try_from(code).ok().filter(|c| *c >= 0).unwrap_or(-1)),
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
