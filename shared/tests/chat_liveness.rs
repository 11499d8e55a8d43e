//! Issue 21, point 1: a press that would reuse a chat asks Twilio whether it is still live when
//! the chat was last confirmed live more than `LIVENESS_CHECK_AFTER_SECONDS` (60) ago: one read.
//! A chat Twilio says ended (its chat-end webhook never reached us) is closed in the store, as
//! the webhook would have closed it, and the same press opens a new chat. Twilio failing on that
//! read answers the recorded chat: no second chat on doubt. DynamoDB is moto, Twilio wiremock.

use flex_handoff::store::{ChatStatus, Slot};
use flex_handoff_testkit::channel::{Harness, call_at, created, press, requests};
use flex_handoff_testkit::{STAND_IN_CHANNEL_SID, STAND_IN_CONVERSATION_SID};
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

const NEXT_CONVERSATION: &str = "CH0000000000000000000000000000beef";
const NEXT_CHANNEL: &str = "CH0000000000000000000000000000cafe";

/// The GET that reads one chat in `mode` (a conversation, or a legacy channel).
fn chat_read(mode: &str, sid: &str) -> String {
    match mode {
        "chat" => format!("/v2/Services/IS33333333333333333333333333333333/Channels/{sid}"),
        _ => format!("/v1/Services/IS33333333333333333333333333333333/Conversations/{sid}"),
    }
}

async fn reads(h: &Harness, mode: &str, sid: &str) -> usize {
    let host = if mode == "chat" {
        &h.twilio.chat
    } else {
        &h.twilio.conversations
    };
    host.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "GET" && r.url.path() == chat_read(mode, sid))
        .count()
}

async fn answer_read(h: &Harness, mode: &str, sid: &str, answer: ResponseTemplate) {
    let host = if mode == "chat" {
        &h.twilio.chat
    } else {
        &h.twilio.conversations
    };
    Mock::given(method("GET"))
        .and(path(chat_read(mode, sid)))
        .respond_with(answer)
        .with_priority(1)
        .mount(host)
        .await;
}

fn first_sid(mode: &str) -> &'static str {
    if mode == "chat" {
        STAND_IN_CHANNEL_SID
    } else {
        STAND_IN_CONVERSATION_SID
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_reuse_asks_twilio_nothing_and_a_stale_live_one_asks_once_and_is_confirmed() {
    let h = Harness::start("conversations").await;
    h.twilio.answer_normally().await;
    answer_read(
        &h,
        "conversations",
        STAND_IN_CONVERSATION_SID,
        ResponseTemplate::new(200)
            .set_body_json(json!({"sid": STAND_IN_CONVERSATION_SID, "state": "active"})),
    )
    .await;
    let state = h.state().await;
    let token = h.guest_token("guest-live");
    let t0 = flex_handoff::unix_now();
    let (status, _) = call_at(&state, press(&token), t0).await;
    assert_eq!(status, 201);

    // Within the interval: the store alone answers.
    let (status, body) = call_at(&state, press(&token), t0 + 60).await;
    assert_eq!((status, body["reused"].as_bool()), (200, Some(true)));
    assert_eq!(
        reads(&h, "conversations", STAND_IN_CONVERSATION_SID).await,
        0
    );

    // Past it: exactly one read, and the confirmation is recorded.
    let (status, body) = call_at(&state, press(&token), t0 + 61).await;
    assert_eq!(
        (status, body["channelSid"].as_str()),
        (200, Some(STAND_IN_CONVERSATION_SID))
    );
    assert_eq!(
        reads(&h, "conversations", STAND_IN_CONVERSATION_SID).await,
        1
    );
    let Slot::Active(chat) = state.store.active_slot("guest-live").await.unwrap() else {
        panic!("the chat is still active");
    };
    assert_eq!((chat.created_at, chat.confirmed_at), (t0, t0 + 61));

    // Confirmed: the next minute's presses ask nothing again.
    let (status, _) = call_at(&state, press(&token), t0 + 121).await;
    assert_eq!(status, 200);
    assert_eq!(
        reads(&h, "conversations", STAND_IN_CONVERSATION_SID).await,
        1
    );
}

/// The webhook was lost: Twilio says the chat ended (closed, or gone). The press closes it as
/// the webhook would have, and opens a new chat in the same request.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_reuse_of_an_ended_chat_closes_it_and_opens_a_new_one_in_the_same_press() {
    for (mode, ended) in [
        (
            "conversations",
            ResponseTemplate::new(200).set_body_json(json!({"state": "closed"})),
        ),
        // A removed conversation reads 404 (the stand-ins' default for unknown conversations).
        (
            "conversations",
            ResponseTemplate::new(404)
                .set_body_json(json!({"code": 20404, "message": "not found", "status": 404})),
        ),
        (
            "chat",
            ResponseTemplate::new(200)
                .set_body_json(json!({"attributes": r#"{"status":"INACTIVE"}"#})),
        ),
    ] {
        let h = Harness::start(mode).await;
        h.twilio.answer_normally().await;
        let state = h.state().await;
        let token = h.guest_token("guest-lost");
        let t0 = flex_handoff::unix_now();
        let (status, first) = call_at(&state, press(&token), t0).await;
        assert_eq!(status, 201, "{mode}: {first}");
        let old = first_sid(mode);
        assert_eq!(first["channelSid"], old);

        answer_read(&h, mode, old, ended).await;
        // The next chat Twilio opens has another SID.
        let (host, route, next) = if mode == "chat" {
            (
                h.flex(),
                "/v1/Channels",
                json!({"sid": NEXT_CHANNEL, "task_sid": null}),
            )
        } else {
            (
                h.flex(),
                "/v2/WebChats",
                json!({"conversation_sid": NEXT_CONVERSATION, "identity": "x"}),
            )
        };
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(created(next))
            .with_priority(1)
            .mount(host)
            .await;
        let opens_before = requests(host, route).await.len();

        let (status, second) = call_at(&state, press(&token), t0 + 3600).await;
        let new = if mode == "chat" {
            NEXT_CHANNEL
        } else {
            NEXT_CONVERSATION
        };
        assert_eq!(status, 201, "{mode}: {second}");
        assert_eq!(
            (second["channelSid"].as_str(), second["reused"].as_bool()),
            (Some(new), Some(false))
        );
        assert_eq!(reads(&h, mode, old).await, 1, "{mode}: one liveness read");
        assert_eq!(
            requests(host, route).await.len(),
            opens_before + 1,
            "{mode}: one new chat"
        );

        let record = state.store.chat(old).await.unwrap().unwrap();
        assert_eq!(record.status, ChatStatus::Closed, "{mode}");
        assert_eq!(record.closed_at, Some(t0 + 3600));
        assert_eq!(
            record.expires_at,
            Some(t0 + 3600 + 30 * 86_400),
            "closed as the webhook closes"
        );
        let Slot::Active(active) = state.store.active_slot("guest-lost").await.unwrap() else {
            panic!("{mode}: the new chat is active");
        };
        assert_eq!(active.channel_sid, new);
        let chats = state
            .store
            .chats_of("guest-lost", 10, None)
            .await
            .unwrap()
            .chats;
        assert_eq!(chats.len(), 2, "{mode}: the old chat stays as history");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_failing_on_the_check_answers_the_recorded_chat_and_opens_nothing() {
    let h = Harness::start("conversations").await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let token = h.guest_token("guest-doubt");
    let t0 = flex_handoff::unix_now();
    assert_eq!(call_at(&state, press(&token), t0).await.0, 201);
    answer_read(
        &h,
        "conversations",
        STAND_IN_CONVERSATION_SID,
        ResponseTemplate::new(503)
            .set_body_json(json!({"code": 20503, "message": "unavailable", "status": 503})),
    )
    .await;

    let (status, body) = call_at(&state, press(&token), t0 + 600).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["channelSid"].as_str(), body["reused"].as_bool()),
        (Some(STAND_IN_CONVERSATION_SID), Some(true))
    );
    assert!(reads(&h, "conversations", STAND_IN_CONVERSATION_SID).await >= 1);
    assert_eq!(
        requests(h.flex(), "/v2/WebChats").await.len(),
        1,
        "no second chat on doubt"
    );
    let Slot::Active(chat) = state.store.active_slot("guest-doubt").await.unwrap() else {
        panic!("still active");
    };
    assert_eq!(
        chat.confirmed_at, t0,
        "not confirmed: the next press asks again"
    );
    let record = state
        .store
        .chat(STAND_IN_CONVERSATION_SID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, ChatStatus::Active);
}

/// A Twilio 403 (our credentials) is doubt, not an end.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_read_is_doubt_not_an_end() {
    let h = Harness::start("chat").await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let token = h.guest_token("guest-refused");
    let t0 = flex_handoff::unix_now();
    assert_eq!(call_at(&state, press(&token), t0).await.0, 201);
    Mock::given(method("GET"))
        .and(path_regex("/Channels/CH[0-9a-f]{32}$"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"code": 20003, "message": "forbidden", "status": 403})),
        )
        .with_priority(1)
        .mount(&h.twilio.chat)
        .await;
    let (status, body) = call_at(&state, press(&token), t0 + 61).await;
    assert_eq!(
        (status, body["reused"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    assert_eq!(
        state
            .store
            .chat(STAND_IN_CHANNEL_SID)
            .await
            .unwrap()
            .unwrap()
            .status,
        ChatStatus::Active
    );
}
