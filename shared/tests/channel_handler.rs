//! `POST /channel` through its handler: DynamoDB is a real moto server (table from
//! template.yaml); Twilio is wiremock, for the stateful cases (reuse, retries, errors,
//! concurrency). The requests' conformance to Twilio's specs is twilio_contract.rs's job.

use flex_handoff::flex::FlexMode;
use std::time::{Duration, Instant};

use flex_handoff::handlers::channel::ChannelState;
use flex_handoff::store::Slot;
use flex_handoff_testkit::channel::{
    Harness, WEBHOOK_URL, call, created, field, form, press, requests, twilio_error,
};
use flex_handoff_testkit::{EventBuilder, STAND_IN_CHANNEL_SID, STAND_IN_CONVERSATION_SID};
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

const CONVERSATION: &str = STAND_IN_CONVERSATION_SID;

#[tokio::test(flavor = "multi_thread")]
async fn a_new_chat_is_opened_recorded_and_then_reused_without_calling_twilio() {
    let h = Harness::start("conversations").await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let token = h.guest_token("guest-ada");
    let event =
        press(&token).body(r#"{"friendlyName":"  Ada  ","preEngagementData":{"topic":"roaming"}}"#);

    let (status, body) = call(&state, event).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["channelSid"], CONVERSATION);
    assert_eq!(body["identity"], "guest-ada");
    assert_eq!(
        (
            body["mode"].as_str(),
            body["status"].as_str(),
            body["reused"].as_bool()
        ),
        (Some("conversations"), Some("active"), Some(false))
    );
    assert!(body["createdAt"].as_str().unwrap().ends_with('Z'));

    let chats = requests(h.flex(), "/v2/WebChats").await;
    assert_eq!(chats.len(), 1);
    let sent = form(&chats[0]);
    assert_eq!(
        field(&sent, "AddressSid"),
        ["IG44444444444444444444444444444444"]
    );
    assert_eq!(field(&sent, "Identity"), ["guest-ada"]);
    assert_eq!(field(&sent, "CustomerFriendlyName"), ["Ada"]);
    assert_eq!(field(&sent, "ChatFriendlyName"), ["Chat with Ada"]);
    assert_eq!(
        field(&sent, "PreEngagementData"),
        [r#"{"customerNameVerified":false,"topic":"roaming"}"#]
    );
    let hooks = requests(&h.twilio.conversations, "/Webhooks").await;
    assert_eq!(hooks.len(), 1);
    assert_eq!(
        hooks[0].url.path(),
        format!(
            "/v1/Services/IS33333333333333333333333333333333/Conversations/{CONVERSATION}/Webhooks"
        )
    );
    let hook = form(&hooks[0]);
    // With the connection overrides that have Twilio retry a failed webhook.
    assert_eq!(
        field(&hook, "Configuration.Url"),
        [format!("{WEBHOOK_URL}#rc=3&rp=all")]
    );
    assert_eq!(
        field(&hook, "Configuration.Filters"),
        [
            "onConversationStateUpdated",
            "onConversationRemoved",
            "onParticipantAdded"
        ]
    );

    let record = state.store.chat(CONVERSATION).await.unwrap().unwrap();
    assert_eq!(
        (record.identity.as_str(), record.status.as_str()),
        ("guest-ada", "active")
    );

    let (status, again) = call(&state, press(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(again["reused"], true);
    assert_eq!(again["channelSid"], CONVERSATION);
    assert_eq!(again["createdAt"], body["createdAt"]);
    assert_eq!(
        h.flex().received_requests().await.unwrap().len(),
        1,
        "reuse makes no Twilio call"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_mode_checks_the_flow_then_opens_a_flex_channel_with_a_chat_webhook() {
    let h = Harness::start("chat").await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    assert_eq!(
        requests(h.flex(), "/v1/FlexFlows/FO55555555555555555555555555555555")
            .await
            .len(),
        1
    );
    let event =
        press(&h.guest_token("guest-bob")).claims(&[("sub", "user-bob"), ("name", "Bob B.")]);

    let (status, body) = call(&state, event).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["identity"].as_str(), body["mode"].as_str()),
        (Some("user-bob"), Some("chat"))
    );
    let sent = form(&requests(h.flex(), "/v1/Channels").await[0]);
    assert_eq!(
        field(&sent, "FlexFlowSid"),
        ["FO55555555555555555555555555555555"]
    );
    assert_eq!(field(&sent, "Identity"), ["user-bob"]);
    assert_eq!(field(&sent, "Target"), ["user-bob"]);
    assert_eq!(
        field(&sent, "ChatUserFriendlyName"),
        ["Bob B."],
        "defaults to the name claim"
    );
    let hooks = requests(&h.twilio.chat, "/Webhooks").await;
    assert_eq!(
        hooks[0].url.path(),
        format!(
            "/v2/Services/IS33333333333333333333333333333333/Channels/{STAND_IN_CHANNEL_SID}/Webhooks"
        )
    );
    let hook = form(&hooks[0]);
    assert_eq!(field(&hook, "Type"), ["webhook"]);
    assert_eq!(field(&hook, "Configuration.Method"), ["POST"]);
    assert_eq!(
        field(&hook, "Configuration.Filters"),
        ["onChannelUpdated", "onChannelDestroyed", "onMemberAdded"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_misconfigured_flex_flow_refuses_every_request_without_opening_anything() {
    let h = Harness::start("chat").await;
    Mock::given(method("GET"))
        .and(path("/v1/FlexFlows/FO55555555555555555555555555555555"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"channel_type": "sms", "enabled": true})),
        )
        .mount(h.flex())
        .await;
    let state = h.state().await;
    let (status, body) = call(&state, press(&h.guest_token("guest-c"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("flex_flow_misconfigured"))
    );
    assert!(
        !body.to_string().contains("sms"),
        "no internal detail in the response"
    );
    assert_eq!(requests(h.flex(), "/v1/Channels").await.len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_presses_open_exactly_one_chat() {
    let h = Harness::start("conversations").await;
    Mock::given(method("POST"))
        .and(path("/v2/WebChats"))
        .respond_with(
            created(json!({"conversation_sid": CONVERSATION, "identity": "x"}))
                .set_delay(Duration::from_millis(400)),
        )
        .with_priority(1)
        .mount(h.flex())
        .await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let token = h.guest_token("guest-double-clicker");

    let presses = (0..20).map(|_| call(&state, press(&token)));
    let results = futures_util::future::join_all(presses).await;

    let created = results.iter().filter(|(status, _)| *status == 201).count();
    let reused = results.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!((created, reused), (1, 19), "{results:?}");
    assert!(
        results
            .iter()
            .all(|(_, body)| body["channelSid"] == CONVERSATION)
    );
    assert_eq!(
        requests(h.flex(), "/v2/WebChats").await.len(),
        1,
        "one Twilio chat"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_429_is_retried_after_the_time_it_asks_for() {
    let h = Harness::start("conversations").await;
    Mock::given(method("POST"))
        .and(path("/v2/WebChats"))
        .respond_with(twilio_error(429, 20429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(h.flex())
        .await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let started = Instant::now();
    let (status, body) = call(&state, press(&h.guest_token("guest-d"))).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was respected"
    );
    assert_eq!(requests(h.flex(), "/v2/WebChats").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_on_a_create_is_looked_for_created_once_more_and_then_keeps_the_claim() {
    let h = Harness::start("conversations").await;
    Mock::given(method("POST"))
        .and(path("/v2/WebChats"))
        .respond_with(twilio_error(503, 20503))
        .with_priority(1)
        .mount(h.flex())
        .await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let (status, body) = call(&state, press(&h.guest_token("guest-e"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("upstream_unavailable")),
        "{body}"
    );
    assert_eq!(
        requests(&h.twilio.conversations, "/ParticipantConversations")
            .await
            .len(),
        1,
        "a 5xx may come after Twilio opened the chat: it is looked for first"
    );
    assert_eq!(
        requests(h.flex(), "/v2/WebChats").await.len(),
        2,
        "none found: created once more, and no further"
    );
    assert!(
        matches!(
            state.store.active_slot("guest-e").await.unwrap(),
            Slot::Pending { .. }
        ),
        "the claim stays until its lease ends, so no other press opens a chat meanwhile"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_chat_whose_answer_was_lost_is_found_among_the_identitys_conversations() {
    let h = Harness::start("conversations").await;
    Mock::given(method("POST"))
        .and(path("/v2/WebChats"))
        .respond_with(twilio_error(502, 20500))
        .with_priority(1)
        .mount(h.flex())
        .await;
    h.twilio.list_active_conversation(CONVERSATION).await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let (status, body) = call(&state, press(&h.guest_token("guest-lost"))).await;
    assert_eq!(
        (status, body["channelSid"].as_str()),
        (201, Some(CONVERSATION)),
        "{body}"
    );
    assert_eq!(
        requests(h.flex(), "/v2/WebChats").await.len(),
        1,
        "found, not made twice"
    );
    let hooks = requests(&h.twilio.conversations, "/Webhooks").await;
    assert_eq!(hooks.len(), 1, "the found chat gets its chat-end webhook");
    assert!(hooks[0].url.path().contains(CONVERSATION));
    assert!(state.store.chat(CONVERSATION).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_channel_whose_answer_was_lost_is_asked_for_once_more() {
    let h = Harness::start("chat").await;
    Mock::given(method("POST"))
        .and(path("/v1/Channels"))
        .respond_with(twilio_error(500, 20500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(h.flex())
        .await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let (status, body) = call(&state, press(&h.guest_token("guest-legacy-lost"))).await;
    assert_eq!(
        (status, body["channelSid"].as_str()),
        (201, Some(STAND_IN_CHANNEL_SID)),
        "{body}"
    );
    let creates = requests(h.flex(), "/v1/Channels").await;
    assert_eq!(
        creates.len(),
        2,
        "asked once more: Flex answers with the identity's open channel"
    );
    assert_eq!(form(&creates[0]), form(&creates[1]), "the same request");
    assert!(
        state
            .store
            .chat(STAND_IN_CHANNEL_SID)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotent_calls_are_retried_within_bounds() {
    let h = Harness::start("conversations").await;
    Mock::given(method("POST"))
        .and(path_regex("/Webhooks$"))
        .respond_with(twilio_error(503, 20503))
        .with_priority(1)
        .mount(&h.twilio.conversations)
        .await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let (status, body) = call(&state, press(&h.guest_token("guest-e2"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("upstream_unavailable")),
        "{body}"
    );
    assert_eq!(
        requests(&h.twilio.conversations, "/Webhooks").await.len(),
        4,
        "a webhook registration may be repeated: bounded, 4 attempts"
    );
    assert!(
        state.store.chat(CONVERSATION).await.unwrap().is_none(),
        "no record"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_twilio_rejection_is_a_502_without_retry_and_leaves_no_record() {
    let h = Harness::start("conversations").await;
    Mock::given(method("POST"))
        .and(path("/v2/WebChats"))
        .respond_with(twilio_error(400, 50407))
        .mount(h.flex())
        .await;
    let state = h.state().await;
    let (status, body) = call(&state, press(&h.guest_token("guest-f"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("upstream_rejected")),
        "{body}"
    );
    assert!(
        !body.to_string().contains("50407"),
        "Twilio's detail is for the logs"
    );
    assert_eq!(
        requests(h.flex(), "/v2/WebChats").await.len(),
        1,
        "4xx is not retried"
    );
    assert_eq!(
        state.store.active_slot("guest-f").await.unwrap(),
        Slot::Empty
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_twilio_is_a_504_within_the_deadline() {
    let h = Harness::start("conversations").await;
    Mock::given(method("POST"))
        .and(path("/v2/WebChats"))
        .respond_with(
            created(json!({"conversation_sid": CONVERSATION})).set_delay(Duration::from_secs(10)),
        )
        .mount(h.flex())
        .await;
    let state = h.state().await;
    let started = Instant::now();
    let (status, body) = call(&state, press(&h.guest_token("guest-g"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (504, Some("upstream_timeout")),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "deadline 3 s: {:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            state.store.active_slot("guest-g").await.unwrap(),
            Slot::Pending { .. }
        ),
        "Twilio may still open the chat: the claim stays for the press after its lease"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chat_whose_webhook_failed_is_kept_claimed_and_completed_by_the_next_press() {
    let h = Harness::start("conversations").await;
    Mock::given(method("POST"))
        .and(path_regex("/Webhooks$"))
        .respond_with(twilio_error(403, 20403))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&h.twilio.conversations)
        .await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let token = h.guest_token("guest-h");
    let (status, _) = call(&state, press(&token)).await;
    assert_eq!(status, 502);
    assert!(
        state.store.chat(CONVERSATION).await.unwrap().is_none(),
        "no record yet"
    );
    assert!(
        matches!(
            state.store.active_slot("guest-h").await.unwrap(),
            Slot::Pending { .. }
        ),
        "the chat exists in Twilio: the claim stays"
    );

    // After the lease, the next press finds that chat and completes it: no second chat.
    h.twilio.list_active_conversation(CONVERSATION).await;
    let later = flex_handoff::unix_now() + 16;
    let response =
        flex_handoff::handlers::channel::channel_response(&state, &press(&token).request(), later)
            .await
            .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        requests(h.flex(), "/v2/WebChats").await.len(),
        1,
        "one chat"
    );
    let webhooks = requests(&h.twilio.conversations, "/Webhooks").await;
    let registered = webhooks.iter().filter(|r| r.method.as_str() == "POST");
    assert_eq!(
        (registered.count(), webhooks.len()),
        (2, 3),
        "the chat's webhooks read, and ours (refused the first time) registered again"
    );
    assert_eq!(
        state
            .store
            .chat(CONVERSATION)
            .await
            .unwrap()
            .unwrap()
            .identity,
        "guest-h"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unavailable_table_is_a_503_before_any_twilio_call() {
    let h = Harness::start("conversations").await;
    h.twilio.answer_normally().await;
    let mut channel = h.channel.clone();
    channel.table = "table-that-does-not-exist".into();
    let state = ChannelState::build(&h.settings, &channel, h.dynamodb.clone()).await;
    let (status, body) = call(&state, press(&h.guest_token("guest-i"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("store_unavailable")),
        "{body}"
    );
    assert!(!body.to_string().contains("table-that-does-not-exist"));
    assert!(h.flex().received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_left_by_a_crashed_request_is_taken_over_after_its_lease() {
    let h = Harness::start("conversations").await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let long_ago = flex_handoff::unix_now() - 60;
    assert!(
        state
            .store
            .claim(
                "guest-j",
                "crashed",
                "crashed",
                FlexMode::Conversations,
                long_ago,
                15
            )
            .await
            .unwrap()
            .won()
    );
    let (status, body) = call(&state, press(&h.guest_token("guest-j"))).await;
    assert_eq!(
        (status, body["channelSid"].as_str()),
        (201, Some(CONVERSATION)),
        "{body}"
    );
    assert_eq!(
        requests(&h.twilio.conversations, "/ParticipantConversations")
            .await
            .len(),
        1
    );
    assert_eq!(
        requests(h.flex(), "/v2/WebChats").await.len(),
        1,
        "nothing to recover: a new chat"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_and_missing_callers_are_client_errors_that_touch_nothing() {
    let h = Harness::start("conversations").await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let token = h.guest_token("guest-k");
    let big = json!({"preEngagementData": {"notes": "x".repeat(4100)}}).to_string();
    let long_name = json!({"friendlyName": "n".repeat(65)}).to_string();
    let cases = [
        (
            press(&token).body(r#"{"friendlyName":"   "}"#),
            400,
            "invalid_body",
        ),
        (press(&token).body(&long_name), 400, "invalid_body"),
        (
            press(&token).body(r#"{"friendlyName":"bell\u0007"}"#),
            400,
            "invalid_body",
        ),
        (press(&token).body(&big), 400, "invalid_body"),
        (
            press(&token).body(r#"{"preEngagementData":"text"}"#),
            400,
            "invalid_body",
        ),
        (press(&token).body(r#"{"topic":"x"}"#), 400, "invalid_body"),
        (
            press(&token).body(r#"{"identity":"someone-else"}"#),
            400,
            "identity_not_allowed",
        ),
        (press(&token).body("{"), 400, "invalid_json"),
        (EventBuilder::new("POST", "/channel"), 401, "unauthorized"),
        (press("forged.token.value"), 401, "invalid_token"),
    ];
    for (event, status, code) in cases {
        let (got, body) = call(&state, event).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
    let max_name = json!({"friendlyName": "n".repeat(64)}).to_string();
    assert_eq!(call(&state, press(&token).body(&max_name)).await.0, 201);
    assert_eq!(
        requests(h.flex(), "/v2/WebChats").await.len(),
        1,
        "only the valid press reached Twilio"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chat_opened_by_a_crashed_request_is_recovered_not_duplicated() {
    let h = Harness::start("conversations").await;
    h.twilio.answer_normally().await;
    let orphan = "CH99999999999999999999999999999999";
    Mock::given(method("GET"))
        .and(path("/v1/Services/IS33333333333333333333333333333333/ParticipantConversations"))
        .and(wiremock::matchers::query_param("Identity", "guest-l"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"conversations": [
            {"conversation_sid": "CH88888888888888888888888888888888", "conversation_state": "closed",
             "conversation_date_created": "2026-11-23T10:00:00Z"},
            {"conversation_sid": orphan, "conversation_state": "active",
             "conversation_date_created": "2026-11-23T10:05:00Z"}
        ], "meta": {}})))
        .mount(&h.twilio.conversations)
        .await;
    let state = h.state().await;
    let long_ago = flex_handoff::unix_now() - 60;
    assert!(
        state
            .store
            .claim(
                "guest-l",
                "crashed",
                "crashed",
                FlexMode::Conversations,
                long_ago,
                15
            )
            .await
            .unwrap()
            .won()
    );

    let (status, body) = call(&state, press(&h.guest_token("guest-l"))).await;
    assert_eq!(
        (status, body["channelSid"].as_str()),
        (201, Some(orphan)),
        "{body}"
    );
    assert!(
        requests(h.flex(), "/v2/WebChats").await.is_empty(),
        "no second chat"
    );
    let hooks = requests(&h.twilio.conversations, "/Webhooks").await;
    assert!(
        hooks[0].url.path().contains(orphan),
        "the recovered chat gets our webhook"
    );
    assert_eq!(
        state.store.chat(orphan).await.unwrap().unwrap().identity,
        "guest-l"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_twilio_is_a_503_after_bounded_retries() {
    let h = Harness::start("conversations").await;
    // A port nobody listens on: every attempt's connection is refused.
    let closed = format!("http://127.0.0.1:{}", flex_handoff_testkit::free_port());
    let mut channel = h.channel.clone();
    channel.hosts.flex = closed;
    let state = ChannelState::build(&h.settings, &channel, h.dynamodb.clone()).await;
    let (status, body) = call(&state, press(&h.guest_token("guest-m"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("upstream_unavailable")),
        "{body}"
    );
    assert_eq!(
        state.store.active_slot("guest-m").await.unwrap(),
        Slot::Empty
    );
}

/// A takeover completes a chat a dead request made. Twilio keeps at most five webhooks per
/// conversation (error 50361), so the chat-end webhook is registered only when ours is not there.
#[tokio::test(flavor = "multi_thread")]
async fn a_takeover_registers_the_chat_end_webhook_only_when_ours_is_missing() {
    let ours = flex_handoff_testkit::channel::WEBHOOK_URL;
    let foreign = |i: usize| json!({"target": "webhook", "configuration": {"url": format!("https://studio.example/{i}")}});
    let cases = [
        (
            "ours already there",
            vec![
                foreign(0),
                json!({"target": "webhook", "configuration": {"url": ours}}),
            ],
            0,
        ),
        (
            "four others, ours missing",
            (0..4).map(foreign).collect(),
            1,
        ),
    ];
    for (case, present, expected_registrations) in cases {
        let h = Harness::start("conversations").await;
        Mock::given(method("GET"))
            .and(path_regex("/Webhooks$"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"webhooks": present, "meta": {"key": "webhooks"}})),
            )
            .with_priority(1)
            .mount(&h.twilio.conversations)
            .await;
        h.twilio.answer_normally().await;
        h.twilio.list_active_conversation(CONVERSATION).await;
        let state = h.state().await;
        let long_ago = flex_handoff::unix_now() - 60;
        let identity = "guest-takeover";
        assert!(
            state
                .store
                .claim(
                    identity,
                    "dead",
                    "dead",
                    FlexMode::Conversations,
                    long_ago,
                    15
                )
                .await
                .unwrap()
                .won()
        );
        let (status, body) = call(&state, press(&h.guest_token(identity))).await;
        assert_eq!(
            (status, body["channelSid"].as_str()),
            (201, Some(CONVERSATION)),
            "{case}: {body}"
        );
        assert!(
            requests(h.flex(), "/v2/WebChats").await.is_empty(),
            "{case}: the dead request's chat is completed, not a new one opened"
        );
        let webhooks = requests(&h.twilio.conversations, "/Webhooks").await;
        let registered = webhooks
            .iter()
            .filter(|r| r.method.as_str() == "POST")
            .count();
        assert_eq!(registered, expected_registrations, "{case}");
    }
}
