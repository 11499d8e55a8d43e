//! The real `reconcile-chats` binary under the Runtime API emulator, with moto and Twilio
//! stand-ins: the scheduled event from `events/` closes a chat whose end never reached us,
//! answers its report, writes the repair as a CloudWatch EMF metric, and logs no secret.

use flex_handoff::flex::FlexMode;
use flex_handoff::store::{ActiveChat, ChannelStore, ChatStatus, Slot};
use flex_handoff_testkit::{
    MotoServer, TwilioStandIns, dev_env, event_file, open_chat_as, run_lambda_binary,
};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_reconcile-chats");

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_run_repairs_a_lost_close_and_counts_it() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let store = ChannelStore::new(moto.dynamodb(), &table, 30);
    let twilio = TwilioStandIns::start().await;
    // Unknown conversations read 404: gone, so ended.
    twilio.answer_normally().await;
    let an_hour_ago = flex_handoff::unix_now() - 3600;
    let sid = "CH0000000000000000000000000000dead";
    open_chat_as(
        &store,
        &ActiveChat {
            identity: "guest-lost".into(),
            channel_sid: sid.into(),
            mode: FlexMode::Interactions,
            created_at: an_hour_ago,
            confirmed_at: an_hour_ago,
            interaction: None,
        },
    )
    .await;

    let mut env: Vec<(String, String)> = dev_env().into_iter().collect();
    env.extend(moto.function_env());
    env.extend(twilio.env());
    env.push(("CHANNELS_TABLE".to_owned(), table.clone()));
    let run = run_lambda_binary(BINARY, &env, &[event_file("reconcile-scheduled.json")]).await;

    assert_eq!(run.responses.len(), 1, "{}", run.output);
    let report = &run.responses[0];
    assert_eq!(
        (report["checked"].as_u64(), report["repaired"].as_u64()),
        (Some(1), Some(1)),
        "{report}\n{}",
        run.output
    );
    assert_eq!(
        store.chat(sid).await.unwrap().unwrap().status,
        ChatStatus::Closed
    );
    assert_eq!(store.active_slot("guest-lost").await.unwrap(), Slot::Empty);

    // The repair is one EMF line CloudWatch turns into FlexHandoff/ChatsRepaired{Mode}.
    let metrics: Vec<Value> = run
        .output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    let repairs: Vec<&Value> = metrics
        .iter()
        .filter(|m| m.get("ChatsRepaired").is_some())
        .collect();
    assert_eq!(repairs.len(), 1, "{}", run.output);
    assert_eq!(repairs[0]["Mode"], "interactions");
    assert_eq!(
        repairs[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "FlexHandoff"
    );
    // And the Twilio read's latency, by operation.
    assert!(
        metrics
            .iter()
            .any(|m| m["Operation"] == "fetch conversation"
                && m["TwilioLatency"].as_f64().is_some_and(|ms| ms >= 0.0)),
        "{}",
        run.output
    );

    let dev = dev_env();
    run.assert_no_leak(&[&dev["TWILIO_AUTH_TOKEN"], &dev["TWILIO_API_KEY_SECRET"]]);
}
