//! The real `generate-token` binary, invoked through a fake Lambda Runtime API: cold start from
//! env or Secrets Manager (a real moto server), responses, and what it logs.

use flex_handoff::token::TokenIssuer;
use flex_handoff_testkit::{
    MotoServer, dev_env, dev_env_with, event_file, response_body, run_lambda_binary,
};
use secrecy::SecretString;
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_generate-token");

/// local/dev.env with `overrides`, and a channels table on `moto` for the new-guest limit.
fn env_with(moto: &MotoServer, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = dev_env_with(overrides).into_iter().collect();
    env.extend(moto.function_env());
    env.push(("CHANNELS_TABLE".to_owned(), moto.create_channels_table()));
    env
}

fn bearer_of(event: &str) -> String {
    let event: Value = serde_json::from_str(event).unwrap();
    event["headers"]["authorization"]
        .as_str()
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_invocations_log_one_line_each_and_never_a_secret_or_token() {
    // TRACE is the most a deployer could turn on; nothing secret may appear even then.
    let moto = MotoServer::start();
    let env = env_with(
        &moto,
        &[("RUST_LOG", "trace"), ("AWS_LAMBDA_LOG_FORMAT", "json")],
    );
    let events = [
        event_file("token-new-guest.json"),
        event_file("token-refresh.json"),
        event_file("token-bad-request.json"),
    ];
    let run = run_lambda_binary(BINARY, &env, &events).await;

    let statuses = run.statuses();
    assert_eq!(statuses, [200, 200, 400], "{}", run.output);

    let dev = dev_env();
    let mut must_not_appear = vec![
        dev["TWILIO_API_KEY_SECRET"].clone(),
        dev["TWILIO_AUTH_TOKEN"].clone(),
        bearer_of(&events[1]),
    ];
    for response in &run.responses[..2] {
        let token = response_body(response)["token"]
            .as_str()
            .unwrap()
            .to_owned();
        // A token's signature alone is enough to recognise a leaked token.
        must_not_appear.push(token.rsplit('.').next().unwrap().to_owned());
        must_not_appear.push(token);
    }
    let must_not_appear: Vec<&str> = must_not_appear.iter().map(String::as_str).collect();
    run.assert_no_leak(&must_not_appear);

    let request_lines: Vec<Value> = run
        .output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "request")
        .collect();
    assert_eq!(
        request_lines.len(),
        3,
        "one line per request:\n{}",
        run.output
    );
    for (index, (line, status)) in request_lines.iter().zip(statuses).enumerate() {
        let fields = &line["fields"];
        assert_eq!(fields["request_id"], format!("invocation-{index}"));
        assert_eq!(fields["route"], "POST /token");
        assert_eq!(fields["status"].as_u64(), Some(status));
        assert!(fields["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    }
    assert_eq!(
        request_lines[2]["fields"]["error_code"],
        "identity_not_allowed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cold_start_reads_twilio_credentials_from_secrets_manager() {
    let moto = MotoServer::start();
    let secret = serde_json::json!({
        "TWILIO_ACCOUNT_SID": "AC0000000000000000000000000000aaaa",
        "TWILIO_API_KEY_SID": "SK0000000000000000000000000000bbbb",
        "TWILIO_API_KEY_SECRET": "secret-from-secrets-manager",
    });
    let arn = moto.create_secret("flex-handoff/twilio", &secret).await;

    let mut env = moto.function_env();
    env.extend([
        ("TWILIO_SECRET_ARN".to_owned(), arn),
        ("RUST_LOG".to_owned(), "trace".to_owned()),
        ("CHANNELS_TABLE".to_owned(), moto.create_channels_table()),
    ]);
    let dev = dev_env();
    for var in ["TWILIO_CHAT_SERVICE_SID", "ALLOW_GUESTS"] {
        env.push((var.to_owned(), dev[var].clone()));
    }
    let run = run_lambda_binary(BINARY, &env, &[event_file("token-new-guest.json")]).await;
    assert_eq!(run.responses.len(), 1, "{}", run.output);
    let body = response_body(&run.responses[0]);

    let issuer_from_secret = TokenIssuer::new(
        "AC0000000000000000000000000000aaaa",
        "SK0000000000000000000000000000bbbb",
        &SecretString::from("secret-from-secrets-manager"),
        &dev["TWILIO_CHAT_SERVICE_SID"],
        3600,
    );
    let token = body["token"].as_str().unwrap();
    let verified = issuer_from_secret
        .verify(token, flex_handoff::unix_now())
        .unwrap();
    assert_eq!(verified.identity, body["identity"].as_str().unwrap());
    run.assert_no_leak(&["secret-from-secrets-manager", token]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_secret_arn_fails_the_cold_start_clearly() {
    let moto = MotoServer::start();
    let mut env = moto.function_env();
    env.extend([
        (
            "TWILIO_SECRET_ARN".to_owned(),
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf".to_owned(),
        ),
        (
            "TWILIO_CHAT_SERVICE_SID".to_owned(),
            dev_env()["TWILIO_CHAT_SERVICE_SID"].clone(),
        ),
    ]);
    let run = run_lambda_binary(BINARY, &env, &[event_file("token-new-guest.json")]).await;
    run.assert_failed_cold_start("TWILIO_SECRET_ARN");
    assert!(
        run.output.contains("ResourceNotFoundException"),
        "{}",
        run.output
    );
}

/// The auth token is flex-webhook's alone: an API key secret that also holds it is refused,
/// so no other function keeps it in memory.
#[tokio::test(flavor = "multi_thread")]
async fn an_api_key_secret_holding_the_auth_token_fails_the_cold_start() {
    let moto = MotoServer::start();
    let secret = serde_json::json!({
        "TWILIO_ACCOUNT_SID": "AC0000000000000000000000000000aaaa",
        "TWILIO_API_KEY_SID": "SK0000000000000000000000000000bbbb",
        "TWILIO_API_KEY_SECRET": "secret-from-secrets-manager",
        "TWILIO_AUTH_TOKEN": "auth-token-from-secrets-manager",
    });
    let arn = moto
        .create_secret("flex-handoff/twilio-with-auth-token", &secret)
        .await;
    let mut env = moto.function_env();
    env.extend([
        ("TWILIO_SECRET_ARN".to_owned(), arn),
        (
            "TWILIO_CHAT_SERVICE_SID".to_owned(),
            dev_env()["TWILIO_CHAT_SERVICE_SID"].clone(),
        ),
    ]);
    let run = run_lambda_binary(BINARY, &env, &[event_file("token-new-guest.json")]).await;
    run.assert_failed_cold_start("TWILIO_AUTH_TOKEN_SECRET_ARN");
    run.assert_no_leak(&[
        "auth-token-from-secrets-manager",
        "secret-from-secrets-manager",
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_range_ttl_fails_the_cold_start_naming_the_variable() {
    let moto = MotoServer::start();
    for ttl in ["86401", "60", "soon"] {
        let env = env_with(&moto, &[("TOKEN_TTL_SECONDS", ttl)]);
        let run = run_lambda_binary(BINARY, &env, &[event_file("token-new-guest.json")]).await;
        run.assert_failed_cold_start("TOKEN_TTL_SECONDS is invalid");
        run.assert_no_leak(&[&dev_env()["TWILIO_API_KEY_SECRET"]]);
    }
}

/// A raw `"` in the query once made lambda_http panic before the handler ran, and the release
/// profile's `panic = "abort"` (which `run_http` applies to debug builds too) killed the instance. Now the same
/// process answers it, and the next request, as usual.
#[tokio::test(flavor = "multi_thread")]
async fn an_instance_survives_raw_bytes_in_the_query_and_answers_the_next_request() {
    let mut hostile: Value = serde_json::from_str(&event_file("token-new-guest.json")).unwrap();
    hostile["rawQueryString"] = Value::from("a=\"b\"&c=<d>\u{7f}");
    hostile["headers"]["host"] = Value::from("bad host\"");
    let events = [hostile.to_string(), event_file("token-new-guest.json")];
    let moto = MotoServer::start();
    let run = run_lambda_binary(BINARY, &env_with(&moto, &[]), &events).await;
    assert_eq!(run.responses.len(), 2, "{}", run.output);
    assert_eq!(run.statuses(), [200, 200], "{}", run.output);
    assert!(run.exit_code.is_none(), "the process ended: {}", run.output);
}
