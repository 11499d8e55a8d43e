//! The artifacts we deploy are the artifacts we test: each function's arm64 `bootstrap`, built as
//! `sam build` builds it (`cargo lambda build --release --arm64`), run under `qemu-aarch64`
//! behind a fake Lambda Runtime API against the local servers, with one event from `events/`.
//! A cross-compilation, linking or glibc problem in what users deploy fails here, not in AWS.
//!
//! Ignored by a plain `cargo test`: it needs those artifacts and Debian's `qemu-user` and
//! `libc6-arm64-cross`. `make test` builds the artifacts and runs it with `--ignored`.

use flex_handoff::store::ChatStatus;
use std::path::PathBuf;
use std::process::Command;

use flex_handoff::store::ChannelStore;
use flex_handoff::token::TokenIssuer;
use flex_handoff_testkit::{
    LambdaRun, MotoServer, STAND_IN_CONVERSATION_SID, TwilioStandIns, dev_env, dev_settings,
    event_file, open_chat, response_body, run_lambda_command, workspace_root,
};

/// ELF `e_machine` of AArch64.
const EM_AARCH64: u16 = 183;
/// Where Debian's `libc6-arm64-cross` puts the arm64 glibc and dynamic loader.
const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// `$LAMBDA_ARTIFACTS_DIR/<function>/bootstrap`; by default cargo lambda's output directory.
fn bootstrap(function: &str) -> PathBuf {
    let root = std::env::var_os("LAMBDA_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target"))
                .join("lambda")
        });
    let path = root.join(function).join("bootstrap");
    let elf = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{path:?} ({e}): build it with `cargo lambda build --release --arm64`")
    });
    assert_eq!(&elf[..4], b"\x7fELF", "{path:?} is not an ELF file");
    assert_eq!(
        u16::from_le_bytes([elf[18], elf[19]]),
        EM_AARCH64,
        "{path:?} is not an arm64 binary"
    );
    path
}

async fn run_under_qemu(function: &str, env: Vec<(String, String)>, event: &str) -> LambdaRun {
    let mut command = Command::new("qemu-aarch64");
    command.arg(bootstrap(function));
    let mut env = env;
    env.push(("QEMU_LD_PREFIX".into(), ARM64_SYSROOT.into()));
    run_lambda_command(command, &env, &[event_file(event)]).await
}

fn base_env(moto: &MotoServer, table: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = dev_env().into_iter().collect();
    env.extend(moto.function_env());
    env.push(("CHANNELS_TABLE".into(), table.into()));
    env
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the arm64 artifacts and qemu-aarch64: `make test` builds and runs them"]
async fn generate_token_bootstrap_mints_a_token_we_verify() {
    // A table for the new-guest limit's bucket.
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let env = base_env(&moto, &table);
    let run = run_under_qemu("generate-token", env, "token-new-guest.json").await;
    assert_eq!(run.statuses(), [200], "{}", run.output);
    let body = response_body(&run.responses[0]);
    let issuer = TokenIssuer::from_settings(&dev_settings(&[]));
    let verified = issuer
        .verify(body["token"].as_str().unwrap(), flex_handoff::unix_now())
        .expect("the arm64 binary's token verifies");
    assert_eq!(verified.identity, body["identity"].as_str().unwrap());
    assert!(verified.identity.starts_with("guest-"));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the arm64 artifacts and qemu-aarch64: `make test` builds and runs them"]
async fn create_channel_bootstrap_opens_and_records_a_chat() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let twilio = TwilioStandIns::start().await;
    twilio.answer_normally().await;
    let mut env = base_env(&moto, &table);
    env.extend(twilio.env());
    let run = run_under_qemu("create-channel", env, "channel-guest.json").await;
    assert_eq!(run.statuses(), [201], "{}", run.output);
    let body = response_body(&run.responses[0]);
    assert_eq!(body["channelSid"], STAND_IN_CONVERSATION_SID);
    let store = ChannelStore::new(moto.dynamodb(), &table, 30);
    let record = store
        .chat(STAND_IN_CONVERSATION_SID)
        .await
        .unwrap()
        .expect("the chat is recorded in DynamoDB");
    assert_eq!(record.status, ChatStatus::Active);
    assert_eq!(record.identity, body["identity"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the arm64 artifacts and qemu-aarch64: `make test` builds and runs them"]
async fn flex_webhook_bootstrap_checks_the_signature_and_closes_the_chat() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let store = ChannelStore::new(moto.dynamodb(), &table, 30);
    // The chat that events/webhook-legacy-inactive.json (signed for local/dev.env) reports ended.
    let sid = "CH0000000000000000000000000000cafe";
    open_chat(&store, "guest-ada", sid).await;

    let run = run_under_qemu(
        "flex-webhook",
        base_env(&moto, &table),
        "webhook-legacy-inactive.json",
    )
    .await;
    assert_eq!(run.statuses(), [200], "{}", run.output);
    assert_eq!(response_body(&run.responses[0])["result"], "closed");
    assert_eq!(
        store.chat(sid).await.unwrap().unwrap().status,
        ChatStatus::Closed
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the arm64 artifacts and qemu-aarch64: `make test` builds and runs them"]
async fn chat_graphql_bootstrap_ends_the_customers_chat() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let store = ChannelStore::new(moto.dynamodb(), &table, 30);
    // The chat events/graphql-end-chat.json ends, for the guest of its token.
    let sid = "CH0123456789abcdef0123456789abcdef";
    let guest = "guest-t1795000000-3f0c6a4e8d1b4b7a9c2e5a6f7b8c9d0e";
    open_chat(&store, guest, sid).await;
    let twilio = TwilioStandIns::start().await;
    twilio.answer_normally().await;
    let mut env = base_env(&moto, &table);
    env.extend(twilio.env());

    let run = run_under_qemu("chat-graphql", env, "graphql-end-chat.json").await;
    assert_eq!(run.statuses(), [200], "{}", run.output);
    assert_eq!(
        response_body(&run.responses[0])["data"]["endChat"]["status"],
        "CLOSED"
    );
    assert_eq!(
        store.chat(sid).await.unwrap().unwrap().status,
        ChatStatus::Closed
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the arm64 artifacts and qemu-aarch64: `make test` builds and runs them"]
async fn reconcile_chats_bootstrap_closes_a_chat_whose_end_was_lost() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let store = ChannelStore::new(moto.dynamodb(), &table, 30);
    let an_hour_ago = flex_handoff::unix_now() - 3600;
    let sid = "CH0000000000000000000000000000dead";
    flex_handoff_testkit::open_chat_as(
        &store,
        &flex_handoff::store::ActiveChat {
            identity: "guest-lost".into(),
            channel_sid: sid.into(),
            mode: flex_handoff::flex::FlexMode::Conversations,
            created_at: an_hour_ago,
            confirmed_at: an_hour_ago,
            interaction: None,
        },
    )
    .await;
    // The stand-ins read unknown conversations as gone.
    let twilio = TwilioStandIns::start().await;
    twilio.answer_normally().await;
    let mut env = base_env(&moto, &table);
    env.extend(twilio.env());

    let run = run_under_qemu("reconcile-chats", env, "reconcile-scheduled.json").await;
    assert_eq!(run.responses.len(), 1, "{}", run.output);
    assert_eq!(run.responses[0]["repaired"], 1, "{}", run.output);
    assert_eq!(
        store.chat(sid).await.unwrap().unwrap().status,
        ChatStatus::Closed
    );
}
