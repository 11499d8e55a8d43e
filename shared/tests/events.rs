//! Every file in `events/` goes through its function's handler and gets the status that
//! `events/manifest.json` documents for it. A file missing from the manifest fails the test.
//! create-channel events run in every Flex mode, each against a fresh table on a real
//! DynamoDB-compatible server and Twilio stand-ins.

use flex_handoff::flex::FlexMode;
use flex_handoff::handlers::reconcile::{ReconcileState, reconcile};
use flex_handoff::store::{ActiveChat, ChatStatus};
use std::collections::BTreeMap;
use std::time::Duration;

use flex_handoff::config::WebhookSettings;
use flex_handoff::handlers::channel::{ChannelState, handle_channel_request};
use flex_handoff::handlers::graphql::{GraphqlState, handle_graphql_request};
use flex_handoff::handlers::token::{TokenState, handle_token_request};
use flex_handoff::handlers::webhook::{WebhookState, handle_webhook_request};
use flex_handoff::store::ChannelStore;
use flex_handoff_testkit::{
    MotoServer, TwilioStandIns, dev_settings, open_chat_as, workspace_root,
};
use lambda_http::{Body, Response};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Expectation {
    function: String,
    status: u16,
    error_code: Option<String>,
    identity: Option<String>,
    /// chat-graphql: the chat the caller has open before the event.
    opens: Option<String>,
    #[allow(dead_code)]
    description: String,
}

fn manifest() -> BTreeMap<String, Expectation> {
    let text = std::fs::read_to_string(workspace_root().join("events/manifest.json")).unwrap();
    serde_json::from_str(&text).expect("events/manifest.json parses")
}

fn request(file: &str) -> lambda_http::Request {
    let text = std::fs::read_to_string(workspace_root().join("events").join(file)).unwrap();
    flex_handoff::lambda::request_from_event(&text)
        .unwrap_or_else(|e| panic!("{file} is not an API Gateway v2 event: {e}"))
}

/// One request and its answer, for tools/check_openapi.py.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Exchange {
    name: String,
    method: String,
    path: String,
    content_type: String,
    request: String,
    status: u16,
    response: String,
}

fn exchange(file: &str, context: &str, response: &Response<Body>) -> Exchange {
    let request = request(file);
    Exchange {
        name: format!("{file} {context}"),
        method: request.method().as_str().to_owned(),
        path: request.uri().path().to_owned(),
        content_type: request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        request: String::from_utf8_lossy(request.body().as_ref()).into_owned(),
        status: response.status().as_u16(),
        response: String::from_utf8_lossy(response.body().as_ref()).into_owned(),
    }
}

fn check(file: &str, expected: &Expectation, response: Response<Body>, context: &str) {
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(
        response.status().as_u16(),
        expected.status,
        "{file} {context}: {body}"
    );
    // GraphQL's errors and data have their own shape.
    let (error_code, identity) = if expected.function == "chat-graphql" {
        (
            &body["errors"][0]["extensions"]["code"],
            &body["data"]["me"]["identity"],
        )
    } else {
        (&body["error"]["code"], &body["identity"])
    };
    assert_eq!(
        error_code.as_str(),
        expected.error_code.as_deref(),
        "{file} {context}: {body}"
    );
    if let Some(expected_identity) = &expected.identity {
        assert_eq!(
            identity.as_str(),
            Some(expected_identity.as_str()),
            "{file} {context}"
        );
    }
}

/// The webhook settings of `local/dev.env`, for which the webhook events are signed.
fn webhook_settings(table: &str) -> WebhookSettings {
    let env = flex_handoff_testkit::dev_env_with(&[("CHANNELS_TABLE", table)]);
    WebhookSettings::from_env(|name| env.get(name).cloned()).unwrap()
}

#[test]
fn manifest_lists_exactly_the_event_files() {
    let mut files: Vec<String> = std::fs::read_dir(workspace_root().join("events"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json") && name != "manifest.json")
        .collect();
    files.sort();
    let listed: Vec<String> = manifest().into_keys().collect();
    assert_eq!(files, listed);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_gets_its_documented_response() {
    let token_state = TokenState::without_limits(&dev_settings(&[]));
    let moto = MotoServer::start();
    let dynamodb = moto.dynamodb();
    let twilio = TwilioStandIns::start().await;
    twilio.answer_normally().await;
    let mut functions = std::collections::HashSet::new();
    let mut exchanges = Vec::new();

    for (file, expected) in manifest() {
        functions.insert(expected.function.clone());
        match expected.function.as_str() {
            "generate-token" => {
                let response = handle_token_request(&token_state, request(&file)).await;
                exchanges.push(exchange(&file, "", &response));
                check(&file, &expected, response, "");
            }
            "create-channel" => {
                for mode in ["conversations", "interactions", "chat"] {
                    let table = moto.create_channels_table();
                    let channel = twilio.channel_settings(&[
                        ("FLEX_MODE", mode),
                        ("CHANNELS_TABLE", table.as_str()),
                    ]);
                    let state =
                        ChannelState::build(&dev_settings(&[]), &channel, dynamodb.clone()).await;
                    let response = handle_channel_request(&state, request(&file)).await;
                    exchanges.push(exchange(&file, mode, &response));
                    check(&file, &expected, response, mode);
                }
            }
            "flex-webhook" => {
                let table = moto.create_channels_table();
                let state = WebhookState::build(&webhook_settings(&table), dynamodb.clone());
                let response = handle_webhook_request(&state, request(&file)).await;
                exchanges.push(exchange(&file, "", &response));
                check(&file, &expected, response, "");
            }
            "chat-graphql" => {
                let table = moto.create_channels_table();
                let settings = twilio.graphql_settings(&[("CHANNELS_TABLE", &table)]);
                let state = GraphqlState::build(&dev_settings(&[]), &settings, dynamodb.clone());
                let store = ChannelStore::new(dynamodb.clone(), &table, 30);
                if let Some(sid) = &expected.opens {
                    let identity = "guest-t1795000000-3f0c6a4e8d1b4b7a9c2e5a6f7b8c9d0e";
                    flex_handoff_testkit::open_chat(&store, identity, sid).await;
                }
                let response = handle_graphql_request(&state, request(&file)).await;
                exchanges.push(exchange(&file, "", &response));
                check(&file, &expected, response, "");
                if let Some(sid) = &expected.opens {
                    let record = store.chat(sid).await.unwrap().unwrap();
                    assert_eq!(
                        record.status,
                        ChatStatus::Closed,
                        "{file}: the chat is closed"
                    );
                }
            }
            "reconcile-chats" => {
                // An EventBridge event, not an API Gateway one: the reconciler reads nothing of
                // it, so the file only has to be the schedule's shape.
                let text =
                    std::fs::read_to_string(workspace_root().join("events").join(&file)).unwrap();
                let event: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    (event["source"].as_str(), event["detail-type"].as_str()),
                    (Some("aws.events"), Some("Scheduled Event")),
                    "{file}"
                );
                let table = moto.create_channels_table();
                let settings = twilio.reconcile_settings(&[("CHANNELS_TABLE", &table)]);
                let state = ReconcileState::build(&dev_settings(&[]), &settings, dynamodb.clone());
                // A chat whose end never reached us: the stand-ins read its conversation as gone.
                let an_hour_ago = flex_handoff::unix_now() - 3600;
                let sid = "CH0000000000000000000000000000dead";
                open_chat_as(
                    &state.store,
                    &ActiveChat {
                        identity: "guest-lost".into(),
                        channel_sid: sid.into(),
                        mode: FlexMode::Conversations,
                        created_at: an_hour_ago,
                        confirmed_at: an_hour_ago,
                        interaction: None,
                    },
                )
                .await;
                let report = reconcile(&state, flex_handoff::unix_now(), Duration::from_secs(60))
                    .await
                    .unwrap();
                assert_eq!(
                    (report.checked, report.repaired),
                    (1, 1),
                    "{file}: {report:?}"
                );
                assert_eq!(expected.status, 200, "{file}: a run that completes");
                let record = state.store.chat(sid).await.unwrap().unwrap();
                assert_eq!(record.status, ChatStatus::Closed, "{file}");
            }
            other => panic!("{file}: no handler for function {other}"),
        }
    }
    assert_eq!(functions.len(), 5, "events cover every function");

    // Every request and answer against openapi.yaml.
    let path = std::env::temp_dir().join(format!("exchanges-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, serde_json::to_vec(&exchanges).unwrap()).unwrap();
    let output = std::process::Command::new("python3")
        .args(["-m", "flex_handoff_dev.check_openapi"])
        .arg(workspace_root().join("openapi.yaml"))
        .arg(&path)
        .output()
        .expect("python3 runs flex_handoff_dev.check_openapi (use `make test`)");
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "openapi.yaml disagrees with the functions:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
