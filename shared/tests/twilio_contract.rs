//! Every Twilio request our client sends, in every Flex mode, opening and ending chats, checked
//! by Prism against Twilio's official OpenAPI specs (npm `@twilio-alpha/mcp`): a request that
//! breaks a spec gets 422 and fails the test.
//!
//! The flows run against wiremock stand-ins for Twilio's hosts, which record the exact requests;
//! each recorded request is then replayed to a Prism mock of the matching spec. One adaptation:
//! Twilio takes list parameters as repeated keys (`Configuration.Filters=a&Configuration.Filters=b`,
//! as its helper libraries send them), which Prism's form parser cannot read as an array without
//! an `encoding` entry the specs lack; the replay spells repeated keys `key[0]=a&key[1]=b`, which
//! Prism reads as that array; so is a declared array with one item (`Participant`). The test also
//! asserts the original wire format.

use std::collections::HashMap;
use std::time::Duration;

use flex_handoff::context::BotContext;
use flex_handoff::flex::{Flex, NewChat};
use flex_handoff::twilio::{TwilioClient, TwilioError};
use flex_handoff_testkit::{
    PrismServer, STAND_IN_CHANNEL_SID, STAND_IN_CONVERSATION_SID, STAND_IN_CUSTOM_CONVERSATION_SID,
    STAND_IN_INTERACTION_SID, TwilioStandIns, channel_settings, dev_settings,
};
use serde_json::{Map, Value, json};
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
    channel.flex(twilio, &settings.chat_service_sid)
}

const IDENTITY: &str = "guest-t1795000000-3f0c6a4e8d1b4b7a9c2e5a6f7b8c9d0e";
const HANDOFF_ID: &str = "2f0e8a52-9d4c-4d1e-8a8e-3b6f1c2d4e5f";

/// A bot context whose history takes two messages, so every request kind is sent.
fn context() -> BotContext {
    let transcript: Vec<_> = (0..20)
        .map(|i| {
            json!({
                "author": if i % 2 == 0 { "customer" } else { "bot" },
                "body": format!("message {i}: {}", "roaming ".repeat(11)),
                "at": format!("2026-12-04T10:{i:02}:00Z"),
            })
        })
        .collect();
    BotContext::parse(Some(&json!({
        "intent": "roaming_no_data",
        "summary": "Data stopped working abroad.",
        "locale": "en-GB",
        "attributes": {"plan": "unlimited", "tier": "gold", "vip": true},
        "transcript": transcript,
    })))
    .unwrap()
}

fn chat<'a>(context: &'a BotContext, pre_engagement: &'a Map<String, Value>) -> NewChat<'a> {
    NewChat {
        identity: IDENTITY,
        friendly_name: "Ada Customer",
        name_verified: true,
        pre_engagement_data: pre_engagement,
        context,
        handoff_id: HANDOFF_ID,
    }
}

fn form_pairs(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// Parameters the specs declare as arrays, which Prism reads as one only when indexed, even if
/// the list has a single item.
const ARRAY_PARAMETERS: [&str; 2] = ["Configuration.Filters", "Participant"];

/// The body Prism can read: repeated keys and array parameters spelled with indexes.
fn prism_form(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (key, _) in pairs {
        *counts.entry(key).or_default() += 1;
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    pairs
        .iter()
        .map(|(key, value)| {
            if counts[key.as_str()] > 1 || ARRAY_PARAMETERS.contains(&key.as_str()) {
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

/// [`replay`] of everything one stand-in host received.
async fn replay_received(prism: &PrismServer, host: &wiremock::MockServer) -> Vec<String> {
    replay(prism, &host.received_requests().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mode_sends_only_what_twilios_specs_allow() {
    let prism = std::thread::scope(|scope| {
        [
            "twilio_flex_v1.json",
            "twilio_flex_v2.json",
            "twilio_chat_v2.json",
            "twilio_conversations_v1.json",
            "twilio_taskrouter_v1.json",
        ]
        .map(|spec| scope.spawn(move || PrismServer::start(spec)))
        .map(|handle| handle.join().unwrap())
    });
    let [flex_v1, flex_v2, chat_v2, conversations_v1, taskrouter_v1] = &prism;

    let hosts = TwilioStandIns::start().await;
    hosts.answer_normally().await;
    let context = context();
    let pre_engagement: Map<String, Value> =
        serde_json::from_value(json!({"question": "My roaming does not work"})).unwrap();
    let chat = chat(&context, &pre_engagement);

    // Each mode opens a new chat, then completes one a dead request left (recovery).
    let conversations = flex(&hosts, "conversations");
    let opened = conversations.open_chat(&chat, false).await.unwrap();
    assert_eq!(opened.channel_sid, CONVERSATION);
    assert!(opened.context_delivered);
    // Recovery finds the dead request's conversation among the identity's.
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path_regex("/ParticipantConversations$"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "conversations": [{"conversation_sid": CONVERSATION, "conversation_state": "active",
                "conversation_date_created": "2026-12-04T10:00:00Z"}],
            "meta": {}
        })))
        .mount(&hosts.conversations)
        .await;
    let recovered = conversations.open_chat(&chat, true).await.unwrap();
    assert_eq!(recovered.channel_sid, CONVERSATION);
    let legacy = flex(&hosts, "chat");
    legacy.check_configuration().await.unwrap();
    for recovering in [false, true] {
        assert_eq!(
            legacy
                .open_chat(&chat, recovering)
                .await
                .unwrap()
                .channel_sid,
            CHANNEL
        );
    }
    let interactions = flex(&hosts, "interactions");
    let opened = interactions.open_chat(&chat, false).await.unwrap();
    assert_eq!(opened.channel_sid, STAND_IN_CUSTOM_CONVERSATION_SID);
    assert_eq!(
        opened.interaction.unwrap().interaction_sid,
        STAND_IN_INTERACTION_SID
    );
    // Recovery finds the dead request's conversation by its unique name.
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path(format!(
            "/v1/Services/IS33333333333333333333333333333333/Conversations/{HANDOFF_ID}"
        )))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({"sid": STAND_IN_CUSTOM_CONVERSATION_SID, "state": "active"})),
        )
        .mount(&hosts.conversations)
        .await;
    let recovered = interactions.open_chat(&chat, true).await.unwrap();
    assert_eq!(recovered.channel_sid, STAND_IN_CUSTOM_CONVERSATION_SID);

    let flex_requests = hosts.flex.received_requests().await.unwrap();
    let (v2, v1): (Vec<Request>, Vec<Request>) = flex_requests
        .into_iter()
        .partition(|r| r.url.path().starts_with("/v2/"));
    let mut checked = replay(flex_v2, &v2).await;
    checked.extend(replay(flex_v1, &v1).await);
    checked.extend(replay_received(conversations_v1, &hosts.conversations).await);
    checked.extend(replay_received(chat_v2, &hosts.chat).await);
    checked.extend(replay_received(taskrouter_v1, &hosts.taskrouter).await);
    checked.sort();
    checked.dedup();
    let service = "/v1/Services/IS33333333333333333333333333333333";
    let legacy_service = "/v2/Services/IS33333333333333333333333333333333";
    let mut expected = vec![
        "GET /v1/FlexFlows/FO55555555555555555555555555555555".to_owned(),
        format!("GET {service}/ParticipantConversations"),
        format!("GET {service}/Conversations/{HANDOFF_ID}"),
        format!("GET {service}/Conversations/{CONVERSATION}/Messages"),
        format!("GET {service}/Conversations/{STAND_IN_CUSTOM_CONVERSATION_SID}/Messages"),
        format!("GET {legacy_service}/Channels/{CHANNEL}/Messages"),
        "GET /v1/Workspaces/WS66666666666666666666666666666666/Tasks".to_owned(),
        "POST /v1/Channels".to_owned(),
        "POST /v1/Interactions".to_owned(),
        format!("POST {service}/ConversationWithParticipants"),
        "POST /v2/WebChats".to_owned(),
    ];
    for sid in [CONVERSATION, STAND_IN_CUSTOM_CONVERSATION_SID] {
        expected.push(format!("POST {service}/Conversations/{sid}/Messages"));
        expected.push(format!("POST {service}/Conversations/{sid}/Webhooks"));
        // A takeover lists the chat's webhooks before registering ours.
        expected.push(format!("GET {service}/Conversations/{sid}/Webhooks"));
    }
    expected.push(format!("POST {legacy_service}/Channels/{CHANNEL}/Messages"));
    expected.push(format!("POST {legacy_service}/Channels/{CHANNEL}/Webhooks"));
    expected.push(format!("GET {legacy_service}/Channels/{CHANNEL}/Webhooks"));
    expected.sort();
    assert_eq!(
        checked, expected,
        "every kind of request the modes make was checked"
    );

    // The wire format Twilio reads: lists as repeated keys.
    let webhook = TwilioStandIns::requests(&hosts.conversations, "/Webhooks").await;
    let filters: Vec<String> = form_pairs(&webhook[0])
        .into_iter()
        .filter(|(key, _)| key == "Configuration.Filters")
        .map(|(_, value)| value)
        .collect();
    assert_eq!(
        filters,
        [
            "onConversationStateUpdated",
            "onConversationRemoved",
            "onParticipantAdded"
        ]
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
    // Interactions: Channel is required; a create is not repeated after a 4xx.
    let flex_v1 = PrismServer::start("twilio_flex_v1.json");
    let error = twilio
        .create(
            "create interaction",
            &format!("{}/v1/Interactions", flex_v1.endpoint),
            &[("Routing", "{}")],
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
    let flex = channel.flex(
        TwilioClient::new(&settings.twilio, Duration::from_secs(10)),
        &settings.chat_service_sid,
    );
    let problem = flex.check_configuration().await.unwrap_err();
    assert!(problem.contains("channel_type sms"), "{problem}");
}

/// The requests that end a chat (the customer's `endChat`), in each mode, checked by Prism: the
/// conversation closed, the Interaction channel closed with its task, the legacy channel read and
/// marked INACTIVE; and the reads that settle a refused close.
#[tokio::test(flavor = "multi_thread")]
async fn ending_a_chat_sends_only_what_twilios_specs_allow() {
    use flex_handoff::flex::{ChatRef, FlexMode, InteractionSids, TwilioChats};
    use flex_handoff_testkit::STAND_IN_INTERACTION_CHANNEL_SID;
    use wiremock::matchers::{method, path_regex};
    use wiremock::{Mock, ResponseTemplate};

    let prism = std::thread::scope(|scope| {
        [
            "twilio_flex_v1.json",
            "twilio_chat_v2.json",
            "twilio_conversations_v1.json",
        ]
        .map(|spec| scope.spawn(move || PrismServer::start(spec)))
        .map(|handle| handle.join().unwrap())
    });
    let [flex_v1, chat_v2, conversations_v1] = &prism;
    let hosts = TwilioStandIns::start().await;
    // Closing a conversation is refused (the agent closed it first) and the read finds it
    // closed; the other updates succeed.
    Mock::given(method("POST"))
        .and(path_regex("/Conversations/CH[0-9a-f]{32}$"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"code": 50446, "message": "Conversation is closed", "status": 400}),
        ))
        .mount(&hosts.conversations)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("/Conversations/CH[0-9a-f]{32}$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"state": "closed"})))
        .mount(&hosts.conversations)
        .await;
    // So is closing the Interaction channel, which the read finds closed.
    let interaction_channel = "^/v1/Interactions/KD[0-9a-f]{32}/Channels/UO[0-9a-f]{32}$";
    Mock::given(method("POST"))
        .and(path_regex(interaction_channel))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(json!({"code": 20409, "message": "already closed", "status": 409})),
        )
        .mount(&hosts.flex)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(interaction_channel))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "closed"})))
        .mount(&hosts.flex)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("/Channels/CH[0-9a-f]{32}$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"attributes": r#"{"status":"ACTIVE"}"#})),
        )
        .mount(&hosts.chat)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("/Channels/CH[0-9a-f]{32}$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&hosts.chat)
        .await;

    let settings = dev_settings(&[]);
    let channel = hosts.channel_settings(&[]);
    let chats = TwilioChats::new(
        TwilioClient::new(&settings.twilio, Duration::from_secs(10)),
        channel.hosts.clone(),
        &settings.chat_service_sid,
    );
    let interaction = InteractionSids {
        interaction_sid: STAND_IN_INTERACTION_SID.into(),
        channel_sid: STAND_IN_INTERACTION_CHANNEL_SID.into(),
    };
    for (mode, channel_sid, interaction) in [
        (FlexMode::Conversations, CONVERSATION, None),
        (
            FlexMode::Interactions,
            STAND_IN_CUSTOM_CONVERSATION_SID,
            Some(&interaction),
        ),
        (FlexMode::Chat, CHANNEL, None),
    ] {
        let chat = ChatRef {
            channel_sid,
            interaction,
        };
        chats.end(mode, &chat).await.unwrap();
    }

    let mut checked = replay_received(flex_v1, &hosts.flex).await;
    checked.extend(replay_received(conversations_v1, &hosts.conversations).await);
    checked.extend(replay_received(chat_v2, &hosts.chat).await);
    checked.sort();
    checked.dedup();
    let service = "/v1/Services/IS33333333333333333333333333333333";
    let mut expected = vec![
        format!("GET /v2/Services/IS33333333333333333333333333333333/Channels/{CHANNEL}"),
        format!("POST /v2/Services/IS33333333333333333333333333333333/Channels/{CHANNEL}"),
    ];
    for verb in ["GET", "POST"] {
        expected.push(format!(
            "{verb} /v1/Interactions/{STAND_IN_INTERACTION_SID}/Channels/{STAND_IN_INTERACTION_CHANNEL_SID}"
        ));
    }
    for sid in [CONVERSATION, STAND_IN_CUSTOM_CONVERSATION_SID] {
        expected.push(format!("GET {service}/Conversations/{sid}"));
        expected.push(format!("POST {service}/Conversations/{sid}"));
    }
    expected.sort();
    assert_eq!(checked, expected, "every kind of end request was checked");
}
