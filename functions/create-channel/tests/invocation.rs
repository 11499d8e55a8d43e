//! The real `create-channel` binary under a fake Lambda Runtime API, with a real DynamoDB-compatible
//! server and Twilio stand-ins: responses, and what it logs at TRACE.

use flex_handoff_testkit::{
    MotoServer, STAND_IN_CONVERSATION_SID, TwilioStandIns, dev_env, event_file, response_body,
    run_lambda_binary,
};

const BINARY: &str = env!("CARGO_BIN_EXE_create-channel");

fn env_for(moto: &MotoServer, twilio: &TwilioStandIns, table: &str) -> Vec<(String, String)> {
    let mut env = dev_env();
    env.extend(twilio.env());
    env.extend(moto.function_env());
    env.extend([
        ("CHANNELS_TABLE".to_owned(), table.to_owned()),
        ("RUST_LOG".to_owned(), "trace".to_owned()),
        ("AWS_LAMBDA_LOG_FORMAT".to_owned(), "json".to_owned()),
    ]);
    env.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn opens_then_reuses_a_chat_and_logs_no_secret() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let twilio = TwilioStandIns::start().await;
    twilio.answer_normally().await;
    let events = [
        event_file("channel-guest.json"),
        event_file("channel-guest.json"),
    ];
    let run = run_lambda_binary(BINARY, &env_for(&moto, &twilio, &table), &events).await;

    assert_eq!(run.statuses(), [201, 200], "{}", run.output);
    for response in &run.responses {
        assert_eq!(
            response_body(response)["channelSid"],
            STAND_IN_CONVERSATION_SID
        );
    }

    run.assert_no_credential_leak(&events[0]);
    let request_lines = run
        .output
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "request")
        .count();
    assert_eq!(request_lines, 2, "{}", run.output);

    // One opened and one reused chat, each an EMF line by mode, and no other chat outcome.
    let outcomes: Vec<(String, String)> = run
        .output
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0] == "Mode")
        .map(|line| {
            let name = line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_eq!(line[name.as_str()], 1.0, "{line}");
            (name, line["Mode"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("ChatsOpened".to_owned(), "conversations".to_owned()),
            ("ChatsReused".to_owned(), "conversations".to_owned())
        ],
        "{}",
        run.output
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_flex_address_fails_the_cold_start_naming_the_variable() {
    let moto = MotoServer::start();
    let twilio = TwilioStandIns::start().await;
    let mut env = env_for(&moto, &twilio, "t");
    env.retain(|(key, _)| key != "TWILIO_FLEX_ADDRESS_SID");
    let run = run_lambda_binary(BINARY, &env, &[event_file("channel-guest.json")]).await;
    run.assert_failed_cold_start("TWILIO_FLEX_ADDRESS_SID is not set");
}

/// Without static credentials in the environment (a developer's `AWS_PROFILE`, as with
/// `LOCAL_AWS=real`), the binary falls back to the SDK's generic chain and still reaches DynamoDB.
#[tokio::test(flavor = "multi_thread")]
async fn without_static_credentials_the_sdk_chain_reads_a_named_profile() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let twilio = TwilioStandIns::start().await;
    twilio.answer_normally().await;
    let profile_dir = std::env::temp_dir().join(format!("aws-profile-{}", std::process::id()));
    std::fs::create_dir_all(&profile_dir).unwrap();
    let credentials = profile_dir.join("credentials");
    std::fs::write(
        &credentials,
        "[local]\naws_access_key_id = profile-key\naws_secret_access_key = profile-secret\n",
    )
    .unwrap();
    let mut env = env_for(&moto, &twilio, &table);
    env.retain(|(key, _)| !key.starts_with("AWS_ACCESS_KEY_ID") && key != "AWS_SECRET_ACCESS_KEY");
    env.extend([
        ("AWS_PROFILE".to_owned(), "local".to_owned()),
        (
            "AWS_SHARED_CREDENTIALS_FILE".to_owned(),
            credentials.display().to_string(),
        ),
        (
            "AWS_CONFIG_FILE".to_owned(),
            profile_dir.join("config").display().to_string(),
        ),
    ]);
    let run = run_lambda_binary(BINARY, &env, &[event_file("channel-guest.json")]).await;
    let _ = std::fs::remove_dir_all(&profile_dir);
    assert_eq!(run.statuses(), [201], "{}", run.output);
    run.assert_no_leak(&["profile-secret"]);
}
