//! Every Twilio request our client sends, in both Flex modes, checked by Prism against Twilio's
//! official OpenAPI specs (npm `@twilio-alpha/mcp`): a request that breaks a spec gets 422 and
//! fails the test.
//!
//! The flows run against wiremock stand-ins for Twilio's hosts, which record the exact requests;
//! each recorded request is then replayed to a Prism mock of the matching spec. One adaptation:
//! Twilio takes list parameters as repeated keys (`Configuration.Filters=a&Configuration.Filters=b`,
//! as its helper libraries send them), which Prism's form parser cannot read as an array without
//! an `encoding` entry the specs lack; the replay spells repeated keys `key[0]=a&key[1]=b`, which
//! Prism reads as that array. The test also asserts the original wire format.

use std::collections::HashMap;
use std::time::Duration;

use flex_handoff::flex::{Flex, NewChat};
use flex_handoff::twilio::{TwilioClient, TwilioError};
use flex_handoff_testkit::{
    PrismServer, STAND_IN_CHANNEL_SID, STAND_IN_CONVERSATION_SID, TwilioStandIns, channel_settings,
    dev_settings,
};
use wiremock::Request;

const CONVERSATION: &str = STAND_IN_CONVERSATION_SID;
const CHANNEL: &str = STAND_IN_CHANNEL_SID;

fn flex(hosts: &TwilioStandIns, mode: &str) -> Flex {
    let settings = dev_settings(&[]);
    let channel = hosts.channel_settings(&[
        ("FLEX_MODE", mode),
        (
            "TWILIO_WEBHOOK_URL",
            "https://abc123.execute-api.eu-west-1.amazonaws.com/twilio/webhook",
        ),
    ]);
    let twilio = TwilioClient::new(&settings.twilio, Duration::from_secs(10));
    Flex::new(twilio, &channel, &settings.chat_service_sid)
}

fn chat() -> NewChat<'static> {
    NewChat {
        identity: "guest-3f0c6a4e-8d1b-4b7a-9c2e-5a6f7b8c9d0e",
        friendly_name: "Ada Customer",
        pre_engagement_data: r#"{"question":"My roaming does not work","plan":"unlimited"}"#,
    }
}

fn form_pairs(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// The body Prism can read: repeated keys spelled with indexes.
fn prism_form(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (key, _) in pairs {
        *counts.entry(key).or_default() += 1;
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    pairs
        .iter()
        .map(|(key, value)| {
            if counts[key.as_str()] > 1 {
                let index = seen.entry(key).or_default();
                let spelled = format!("{key}[{index}]");
                *index += 1;
                (spelled, value.clone())
            } else {
                (key.clone(), value.clone())
            }
        })
        .collect()
}

/// Replays `requests` to Prism; returns "METHOD path" of each, failing on any spec violation.
async fn replay(prism: &PrismServer, requests: &[Request]) -> Vec<String> {
    // A plain client for the replay; the product's client brings its own TLS configuration.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    for request in requests {
        let mut url = format!("{}{}", prism.endpoint, request.url.path());
        if let Some(query) = request.url.query() {
            url = format!("{url}?{query}");
        }
        let auth = request
            .headers
            .get("authorization")
            .expect("basic auth sent")
            .to_str()
            .unwrap();
        assert!(auth.starts_with("Basic "), "Twilio takes basic auth");
        let mut replayed = http
            .request(request.method.as_str().parse().unwrap(), &url)
            .header("authorization", auth);
        if request.method.as_str() == "POST" {
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(prism_form(&form_pairs(request)))
                .finish();
            replayed = replayed
                .header("content-type", "application/x-www-form-urlencoded")
                .body(encoded);
        }
        let response = replayed.send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        let line = format!("{} {}", request.method, request.url.path());
        assert!(status.is_success(), "Prism rejects {line}: {status} {body}");
        seen.push(line);
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn both_flex_generations_send_only_what_twilios_specs_allow() {
    let prism = std::thread::scope(|scope| {
        [
            "twilio_flex_v1.json",
            "twilio_flex_v2.json",
            "twilio_chat_v2.json",
            "twilio_conversations_v1.json",
        ]
        .map(|spec| scope.spawn(move || PrismServer::start(spec)))
        .map(|handle| handle.join().unwrap())
    });
    let [flex_v1, flex_v2, chat_v2, conversations_v1] = &prism;

    let hosts = TwilioStandIns::start().await;
    hosts.answer_normally().await;
    let conversations = flex(&hosts, "conversations");
    assert_eq!(
        conversations.open_chat(&chat()).await.unwrap(),
        CONVERSATION
    );
    assert_eq!(
        conversations.find_open_chat(chat().identity).await.unwrap(),
        None
    );
    let legacy = flex(&hosts, "chat");
    legacy.check_flex_flow().await.unwrap();
    assert_eq!(legacy.open_chat(&chat()).await.unwrap(), CHANNEL);

    let flex_requests = hosts.flex.received_requests().await.unwrap();
    let (v2, v1): (Vec<Request>, Vec<Request>) = flex_requests
        .into_iter()
        .partition(|r| r.url.path().starts_with("/v2/"));
    let mut checked = replay(flex_v2, &v2).await;
    checked.extend(replay(flex_v1, &v1).await);
    checked.extend(
        replay(
            conversations_v1,
            &hosts.conversations.received_requests().await.unwrap(),
        )
        .await,
    );
    checked.extend(replay(chat_v2, &hosts.chat.received_requests().await.unwrap()).await);
    checked.sort();
    assert_eq!(
        checked,
        [
            "GET /v1/FlexFlows/FO55555555555555555555555555555555".to_owned(),
            "GET /v1/Services/IS33333333333333333333333333333333/ParticipantConversations"
                .to_owned(),
            "POST /v1/Channels".to_owned(),
            format!(
                "POST /v1/Services/IS33333333333333333333333333333333/Conversations/{CONVERSATION}/Webhooks"
            ),
            format!(
                "POST /v2/Services/IS33333333333333333333333333333333/Channels/{CHANNEL}/Webhooks"
            ),
            "POST /v2/WebChats".to_owned(),
        ],
        "every request the flows make was checked"
    );

    // The wire format Twilio reads: lists as repeated keys.
    let webhook = &hosts.conversations.received_requests().await.unwrap()[0];
    let filters: Vec<String> = form_pairs(webhook)
        .into_iter()
        .filter(|(key, _)| key == "Configuration.Filters")
        .map(|(_, value)| value)
        .collect();
    assert_eq!(
        filters,
        ["onConversationStateUpdated", "onConversationRemoved"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prism_really_rejects_requests_that_break_the_spec() {
    let flex_v2 = PrismServer::start("twilio_flex_v2.json");
    let settings = dev_settings(&[]);
    let twilio = TwilioClient::new(&settings.twilio, Duration::from_secs(10));
    // AddressSid is required by the spec.
    let error = twilio
        .post(
            "create web chat",
            &format!("{}/v2/WebChats", flex_v2.endpoint),
            &[("ChatFriendlyName", "x")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, TwilioError::Rejected { status: 422, .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_flex_flow_example_is_an_sms_flow_which_web_chat_refuses() {
    let flex_v1 = PrismServer::start("twilio_flex_v1.json");
    let settings = dev_settings(&[]);
    let channel = channel_settings(&[
        ("FLEX_MODE", "chat"),
        ("TWILIO_FLEX_API_URL", &flex_v1.endpoint),
    ]);
    let flex = Flex::new(
        TwilioClient::new(&settings.twilio, Duration::from_secs(10)),
        &channel,
        &settings.chat_service_sid,
    );
    let problem = flex.check_flex_flow().await.unwrap_err();
    assert!(problem.contains("channel_type sms"), "{problem}");
}
