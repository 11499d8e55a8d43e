//! The real `flex-webhook` binary under a fake Lambda Runtime API with a real DynamoDB-compatible
//! server: a signed event from `events/` closes the chat; the logs hold no secret; the function
//! runs on its auth token alone, from its own secret, with no Twilio API key anywhere.

use flex_handoff::store::ChatStatus;
use flex_handoff::store::{ChannelStore, Slot};
use flex_handoff_testkit::{
    MotoServer, dev_env, event_file, open_chat, response_body, run_lambda_binary,
};

const BINARY: &str = env!("CARGO_BIN_EXE_flex-webhook");

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_event_closes_the_chat_and_an_unsigned_one_changes_nothing() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let store = ChannelStore::new(moto.dynamodb(), &table, 30);
    let sid = "CH0000000000000000000000000000cafe";
    open_chat(&store, "guest-ada", sid).await;

    let dev = dev_env();
    let auth_token_secret = moto
        .create_secret(
            "flex-handoff/twilio-auth-token",
            &serde_json::json!({"TWILIO_AUTH_TOKEN": dev["TWILIO_AUTH_TOKEN"]}),
        )
        .await;
    let only_its_own = |var: &String| {
        !var.starts_with("TWILIO_API_KEY")
            && var != "TWILIO_ACCOUNT_SID"
            && var != "TWILIO_AUTH_TOKEN"
    };
    let mut env: Vec<(String, String)> = dev
        .clone()
        .into_iter()
        .filter(|(var, _)| only_its_own(var))
        .collect();
    env.extend(moto.function_env());
    env.extend([
        ("CHANNELS_TABLE".to_owned(), table.clone()),
        ("RUST_LOG".to_owned(), "trace".to_owned()),
        ("TWILIO_AUTH_TOKEN_SECRET_ARN".to_owned(), auth_token_secret),
    ]);
    let events = [
        event_file("webhook-unsigned.json"),
        event_file("webhook-legacy-inactive.json"),
    ];
    let run = run_lambda_binary(BINARY, &env, &events).await;

    assert_eq!(run.statuses(), [400, 200], "{}", run.output);
    assert_eq!(response_body(&run.responses[1])["result"], "closed");
    assert_eq!(
        store.chat(sid).await.unwrap().unwrap().status,
        ChatStatus::Closed
    );
    assert_eq!(store.active_slot("guest-ada").await.unwrap(), Slot::Empty);

    run.assert_no_leak(&[&dev["TWILIO_AUTH_TOKEN"], &dev["TWILIO_API_KEY_SECRET"]]);
}
