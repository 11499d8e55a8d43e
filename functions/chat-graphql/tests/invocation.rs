//! The real `chat-graphql` binary under a fake Lambda Runtime API, with a real DynamoDB-compatible
//! server and Twilio stand-ins: the events of `events/` answered, the chat ended in Twilio and in
//! DynamoDB, and no secret or token in what it logs at TRACE.

use flex_handoff::store::ChatStatus;
use flex_handoff::store::{ChannelStore, Slot};
use flex_handoff_testkit::{
    MotoServer, TwilioStandIns, dev_env, event_file, open_chat, response_body, run_lambda_binary,
};

const BINARY: &str = env!("CARGO_BIN_EXE_chat-graphql");
const GUEST: &str = "guest-t1795000000-3f0c6a4e8d1b4b7a9c2e5a6f7b8c9d0e";
const SID: &str = "CH0123456789abcdef0123456789abcdef";

#[tokio::test(flavor = "multi_thread")]
async fn answers_the_customers_chats_ends_one_and_logs_no_secret() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let store = ChannelStore::new(moto.dynamodb(), &table, 30);
    open_chat(&store, GUEST, SID).await;
    let twilio = TwilioStandIns::start().await;
    twilio.answer_normally().await;

    let mut env: Vec<(String, String)> = dev_env().into_iter().collect();
    env.extend(twilio.env());
    env.extend(moto.function_env());
    env.extend([
        ("CHANNELS_TABLE".to_owned(), table.clone()),
        ("RUST_LOG".to_owned(), "trace".to_owned()),
        ("AWS_LAMBDA_LOG_FORMAT".to_owned(), "json".to_owned()),
    ]);
    let events = [
        event_file("graphql-my-chats.json"),
        event_file("graphql-end-chat.json"),
        event_file("graphql-my-chats.json"),
        event_file("graphql-unauthenticated.json"),
    ];
    let run = run_lambda_binary(BINARY, &env, &events).await;

    assert_eq!(run.statuses(), [200, 200, 200, 401], "{}", run.output);
    let before = response_body(&run.responses[0]);
    assert_eq!(before["data"]["me"]["activeChat"]["channelSid"], SID);
    assert_eq!(
        before["data"]["me"]["chats"]["edges"][0]["node"]["status"],
        "ACTIVE"
    );
    assert_eq!(
        response_body(&run.responses[1])["data"]["endChat"]["status"],
        "CLOSED"
    );
    let after = response_body(&run.responses[2]);
    assert_eq!(after["data"]["me"]["activeChat"], serde_json::Value::Null);
    assert_eq!(
        after["data"]["me"]["chats"]["edges"][0]["node"]["status"],
        "CLOSED"
    );
    assert_eq!(
        store.chat(SID).await.unwrap().unwrap().status,
        ChatStatus::Closed
    );
    assert_eq!(store.active_slot(GUEST).await.unwrap(), Slot::Empty);
    assert_eq!(
        response_body(&run.responses[3])["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );

    run.assert_no_credential_leak(&events[0]);
    let request_lines: Vec<serde_json::Value> = run
        .output
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "request")
        .collect();
    assert_eq!(
        request_lines.len(),
        4,
        "one log line per request:\n{}",
        run.output
    );
    assert_eq!(
        request_lines[3]["fields"]["error_code"], "UNAUTHENTICATED",
        "{}",
        run.output
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_table_fails_the_cold_start_naming_the_variable() {
    let mut env: Vec<(String, String)> = dev_env().into_iter().collect();
    env.retain(|(key, _)| key != "CHANNELS_TABLE");
    let run = run_lambda_binary(BINARY, &env, &[event_file("graphql-my-chats.json")]).await;
    run.assert_failed_cold_start("CHANNELS_TABLE is not set");
}
