//! Every file in `events/` goes through its function's handler and gets the status that
//! `events/manifest.json` documents for it. A file missing from the manifest fails the test.

use std::collections::BTreeMap;

use flex_handoff::handlers::token::{TokenState, handle_token_request};
use flex_handoff::testing::{dev_settings, workspace_root};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Expectation {
    function: String,
    status: u16,
    error_code: Option<String>,
    identity: Option<String>,
    #[allow(dead_code)]
    description: String,
}

fn manifest() -> BTreeMap<String, Expectation> {
    let text = std::fs::read_to_string(workspace_root().join("events/manifest.json")).unwrap();
    serde_json::from_str(&text).expect("events/manifest.json parses")
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

#[tokio::test]
async fn every_event_gets_its_documented_response() {
    let token_state = TokenState::from_settings(&dev_settings(&[]));
    for (file, expected) in manifest() {
        let text = std::fs::read_to_string(workspace_root().join("events").join(&file)).unwrap();
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{file} is not an API Gateway v2 event: {e}"));
        let response = match expected.function.as_str() {
            "generate-token" => handle_token_request(&token_state, request).await,
            other => panic!("{file}: no handler for function {other}"),
        };
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(
            response.status().as_u16(),
            expected.status,
            "{file}: {body}"
        );
        assert_eq!(
            body["error"]["code"].as_str(),
            expected.error_code.as_deref(),
            "{file}: {body}"
        );
        if let Some(identity) = &expected.identity {
            assert_eq!(body["identity"].as_str(), Some(identity.as_str()), "{file}");
        }
    }
}
