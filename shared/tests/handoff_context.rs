//! The bot's context on `POST /channel`, and interactions mode, through the handler: DynamoDB is
//! moto, Twilio the wiremock stand-ins (stateful cases: lost answers, failed history posts,
//! retries, recovery). Conformance to Twilio's specs is twilio_contract.rs's job.

use flex_handoff::flex::FlexMode;
use flex_handoff::store::ChatStatus;
use std::sync::{Arc, Mutex};

use flex_handoff::handlers::channel::MAX_CHANNEL_BODY_BYTES;
use flex_handoff::store::{InteractionSids, Slot};
use flex_handoff_testkit::channel::{
    Harness, call, created, field, form, press, requests, twilio_error,
};
use flex_handoff_testkit::{
    STAND_IN_CHANNEL_SID, STAND_IN_CONVERSATION_SID, STAND_IN_CUSTOM_CONVERSATION_SID,
    STAND_IN_INTERACTION_CHANNEL_SID, STAND_IN_INTERACTION_SID, TwilioStandIns,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const CUSTOM: &str = STAND_IN_CUSTOM_CONVERSATION_SID;
const SERVICE: &str = "/v1/Services/IS33333333333333333333333333333333";

/// A bot conversation of `messages` entries of about 100 characters each.
fn transcript(messages: usize) -> Value {
    (0..messages)
        .map(|i| {
            json!({
                "author": if i % 2 == 0 { "customer" } else { "bot" },
                "body": format!("line {i:02} {}", "abcdefghi ".repeat(9)),
                "at": format!("2026-12-04T10:{i:02}:00Z"),
            })
        })
        .collect()
}

fn context_body(messages: usize) -> String {
    json!({
        "friendlyName": "Ada",
        "context": {
            "intent": "roaming_no_data",
            "summary": "Data stopped in Spain.",
            "locale": "en-GB",
            "attributes": {"plan": "unlimited", "tier": "gold", "vip": true},
            "transcript": transcript(messages),
        }
    })
    .to_string()
}

/// The order requests reached the stand-ins, across hosts.
#[derive(Clone, Default)]
struct Sequence(Arc<Mutex<Vec<String>>>);

struct Recorded(Sequence, ResponseTemplate);

impl Respond for Recorded {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let route = request
            .url
            .path()
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_owned();
        self.0.0.lock().unwrap().push(route);
        self.1.clone()
    }
}

impl Sequence {
    fn answer(&self, template: ResponseTemplate) -> Recorded {
        Recorded(self.clone(), template)
    }

    fn routes(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// The answers of a normal Twilio, with the creates and history posts recorded in order.
async fn recorded_normally(twilio: &TwilioStandIns) -> Sequence {
    let sequence = Sequence::default();
    let post = |route: &str| Mock::given(method("POST")).and(path_regex(format!("{route}$")));
    post("/ConversationWithParticipants")
        .respond_with(sequence.answer(created(json!({"sid": CUSTOM, "state": "active"}))))
        .with_priority(1)
        .mount(&twilio.conversations)
        .await;
    post("/Webhooks")
        .respond_with(sequence.answer(created(
            json!({"sid": "WH00000000000000000000000000000000"}),
        )))
        .with_priority(1)
        .mount(&twilio.conversations)
        .await;
    post("/Messages")
        .respond_with(sequence.answer(created(
            json!({"sid": "IM00000000000000000000000000000000"}),
        )))
        .with_priority(1)
        .mount(&twilio.conversations)
        .await;
    post("/v1/Interactions")
        .respond_with(sequence.answer(created(json!({
            "sid": STAND_IN_INTERACTION_SID,
            "channel": {"type": "web", "sid": STAND_IN_INTERACTION_CHANNEL_SID},
        }))))
        .with_priority(1)
        .mount(&twilio.flex)
        .await;
    twilio.answer_normally().await;
    sequence
}

fn json_field(form: &[(String, String)], key: &str) -> Value {
    serde_json::from_str(field(form, key)[0]).unwrap_or_else(|e| panic!("{key}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn interactions_mode_makes_the_conversation_then_its_history_then_the_task() {
    let h = Harness::start("interactions").await;
    let sequence = recorded_normally(&h.twilio).await;
    let state = h.state().await;
    let token = h.guest_token("guest-ada");

    let (status, body) = call(&state, press(&token).body(&context_body(20))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (
            body["channelSid"].as_str(),
            body["mode"].as_str(),
            body["contextDelivered"].as_bool()
        ),
        (Some(CUSTOM), Some("interactions"), Some(true))
    );
    // The webhook and the first history message are concurrent; the second follows; the task
    // is created once the whole history is in the conversation.
    let routes = sequence.routes();
    assert_eq!(routes.len(), 5, "{routes:?}");
    assert_eq!(routes[0], "ConversationWithParticipants");
    let mut middle = routes[1..3].to_vec();
    middle.sort();
    assert_eq!(middle, ["Messages", "Webhooks"]);
    assert_eq!(routes[3..], ["Messages", "Interactions"]);

    let conversation =
        form(&requests(&h.twilio.conversations, "/ConversationWithParticipants").await[0]);
    let handoff_id = field(&conversation, "UniqueName")[0].to_owned();
    assert!(uuid::Uuid::parse_str(&handoff_id).is_ok(), "{handoff_id}");
    assert_eq!(
        json_field(&conversation, "Participant"),
        json!({"identity": "guest-ada"})
    );
    assert_eq!(field(&conversation, "FriendlyName"), ["Chat with Ada"]);
    assert_eq!(field(&conversation, "Timers.Inactive"), ["PT30M"]);
    assert_eq!(field(&conversation, "Timers.Closed"), ["PT720M"]);
    let attributes = json_field(&conversation, "Attributes");
    assert_eq!(attributes["handoffId"], handoff_id.as_str());
    assert_eq!(attributes["context"]["summary"], "Data stopped in Spain.");
    assert_eq!(attributes["context"]["attributes"]["tier"], "gold");
    assert!(
        attributes["context"].get("transcript").is_none(),
        "the transcript goes as messages"
    );

    let messages = requests(&h.twilio.conversations, "/Messages").await;
    assert_eq!(messages.len(), 2, "20 entries take two history messages");
    for (part, message) in messages.iter().enumerate() {
        assert!(
            message.headers.get("x-twilio-webhook-enabled").is_none(),
            "history fires no webhook or Studio flow"
        );
        let sent = form(message);
        assert_eq!(field(&sent, "Author"), ["bot-transcript"]);
        assert!(field(&sent, "Body")[0].starts_with(&format!(
            "Conversation with the bot before this handoff (as the customer's browser sent it, \
             not verified; part {} of 2):",
            part + 1
        )));
    }
    let first = form(&messages[0]);
    assert!(field(&first, "Body")[0].contains("[10:00:00 UTC] Customer: line 00"));

    let interaction = form(&requests(h.flex(), "/v1/Interactions").await[0]);
    assert_eq!(
        json_field(&interaction, "Channel"),
        json!({"type": "web", "initiated_by": "customer", "properties": {"media_channel_sid": CUSTOM}})
    );
    let routing = json_field(&interaction, "Routing");
    assert_eq!(routing["type"], "TaskRouter");
    let properties = &routing["properties"];
    assert_eq!(
        properties["workspace_sid"],
        "WS66666666666666666666666666666666"
    );
    assert_eq!(
        properties["workflow_sid"],
        "WW77777777777777777777777777777777"
    );
    assert_eq!(properties["task_channel_unique_name"], "chat");
    let task = &properties["attributes"];
    assert_eq!(
        task["handoffId"],
        handoff_id.as_str(),
        "the task can be found by the handoff"
    );
    assert_eq!(task["customerName"], "Ada");
    assert_eq!(task["context"]["intent"], "roaming_no_data");
    assert_eq!(task["context"]["locale"], "en-GB");
    assert_eq!(task["context"]["attributes"]["plan"], "unlimited");

    let record = state.store.chat(CUSTOM).await.unwrap().unwrap();
    assert_eq!(record.mode, FlexMode::Interactions);
    assert_eq!(
        record.interaction,
        Some(InteractionSids {
            interaction_sid: STAND_IN_INTERACTION_SID.into(),
            channel_sid: STAND_IN_INTERACTION_CHANNEL_SID.into(),
        })
    );

    // Pressing again reuses the chat and posts nothing again.
    let (status, again) = call(&state, press(&token).body(&context_body(20))).await;
    assert_eq!((status, again["reused"].as_bool()), (200, Some(true)));
    assert!(again.get("contextDelivered").is_none());
    assert_eq!(sequence.routes().len(), 5, "reuse calls Twilio for nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_context_reaches_the_agent_in_the_other_two_modes() {
    for (mode, sid) in [
        ("conversations", STAND_IN_CONVERSATION_SID),
        ("chat", STAND_IN_CHANNEL_SID),
    ] {
        let h = Harness::start(mode).await;
        h.twilio.answer_normally().await;
        let state = h.state().await;
        let body = json!({
            "preEngagementData": {"question": "No data"},
            "context": {"intent": "roaming_no_data", "locale": "es-ES", "attributes": {"tier": "gold"},
                        "transcript": transcript(3)},
        });
        let (status, answer) = call(
            &state,
            press(&h.guest_token("guest-b")).body(&body.to_string()),
        )
        .await;
        assert_eq!(
            (status, answer["contextDelivered"].as_bool()),
            (201, Some(true)),
            "{mode}: {answer}"
        );
        let route = if mode == "chat" {
            "/v1/Channels"
        } else {
            "/v2/WebChats"
        };
        let opened = form(&requests(h.flex(), route).await[0]);
        assert_eq!(
            json_field(&opened, "PreEngagementData"),
            json!({"question": "No data", "customerNameVerified": false,
                   "context": {"source": "customer-provided", "intent": "roaming_no_data", "locale": "es-ES", "attributes": {"tier": "gold"}}}),
            "{mode}: Flex puts this on the task"
        );
        let (host, author) = if mode == "chat" {
            (&h.twilio.chat, "From")
        } else {
            (&h.twilio.conversations, "Author")
        };
        let messages = requests(host, "/Messages").await;
        assert_eq!(messages.len(), 1, "{mode}");
        assert!(messages[0].url.path().contains(sid), "{mode}");
        let sent = form(&messages[0]);
        assert_eq!(field(&sent, author), ["bot-transcript"], "{mode}");
        let text = field(&sent, "Body")[0];
        let order: Vec<usize> = ["line 00", "line 01", "line 02"]
            .iter()
            .map(|line| text.find(line).unwrap())
            .collect();
        assert!(order.is_sorted(), "{mode}: in order");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_history_post_keeps_the_chat_and_says_so() {
    for mode in ["conversations", "interactions"] {
        let h = Harness::start(mode).await;
        Mock::given(method("POST"))
            .and(path_regex("/Messages$"))
            .respond_with(twilio_error(500, 20500))
            .with_priority(1)
            .mount(&h.twilio.conversations)
            .await;
        h.twilio.answer_normally().await;
        let state = h.state().await;
        let (status, body) = call(
            &state,
            press(&h.guest_token("guest-c")).body(&context_body(20)),
        )
        .await;
        assert_eq!(
            (status, body["contextDelivered"].as_bool()),
            (201, Some(false)),
            "{mode}: {body}"
        );
        let sid = body["channelSid"].as_str().unwrap();
        assert_eq!(
            state.store.chat(sid).await.unwrap().unwrap().status,
            ChatStatus::Active,
            "{mode}"
        );
        assert_eq!(
            requests(&h.twilio.conversations, "/Messages").await.len(),
            1,
            "{mode}: a history post is not repeated (a lost answer would show twice), and the rest are not sent out of order"
        );
        if mode == "interactions" {
            assert_eq!(
                requests(h.flex(), "/v1/Interactions").await.len(),
                1,
                "the customer still gets an agent"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_context_is_a_400_naming_the_field_and_touches_nothing() {
    let h = Harness::start("interactions").await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let token = h.guest_token("guest-d");
    for (context, field_name) in [
        (json!("billing"), "context"),
        (json!({"intent": "x".repeat(129)}), "context.intent"),
        (json!({"locale": "english please"}), "context.locale"),
        (json!({"attributes": {"a b": 1}}), "context.attributes"),
        (
            json!({"transcript": [{"author": "bot", "body": "\u{1b}[2J", "at": "2026-12-04T10:00:00Z"}]}),
            "context.transcript[0].body",
        ),
        (json!({"transcript": transcript(51)}), "context.transcript"),
        (json!({"secret": true}), "context.secret"),
    ] {
        let body = json!({"context": context}).to_string();
        let (status, answer) = call(&state, press(&token).body(&body)).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("invalid_context")),
            "{answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("{field_name}:")), "{message}");
    }
    for host in [
        &h.twilio.flex,
        &h.twilio.conversations,
        &h.twilio.taskrouter,
    ] {
        assert!(
            host.received_requests().await.unwrap().is_empty(),
            "nothing called"
        );
    }
    assert_eq!(
        state.store.active_slot("guest-d").await.unwrap(),
        Slot::Empty,
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_largest_valid_request_fits_the_routes_body_limit() {
    let h = Harness::start("conversations").await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    // Every body character one JSON escapes (a quote is two bytes on the wire).
    let entry = |i: usize| json!({"author": "customer", "body": "\"".repeat(4096), "at": format!("2026-12-04T10:00:{i:02}.123456789+01:00")});
    let mut attributes = serde_json::Map::new();
    for i in 0..30 {
        attributes.insert(format!("k{i:02}{}", "_".repeat(58)), json!("\"".repeat(0)));
    }
    let body = json!({
        "friendlyName": "\"".repeat(64),
        "preEngagementData": {"q": "\"".repeat(500)},
        "context": {
            "intent": "\"".repeat(128),
            "summary": "\"".repeat(1024),
            "locale": "zh-Hant-CN-x-private1-private2",
            "attributes": attributes,
            "transcript": (0..8).map(entry).collect::<Vec<_>>(),
        }
    })
    .to_string();
    assert!(
        body.len() > 64 * 1024 && body.len() < MAX_CHANNEL_BODY_BYTES,
        "{}",
        body.len()
    );
    let (status, answer) = call(&state, press(&h.guest_token("guest-e")).body(&body)).await;
    assert_eq!(status, 201, "{answer}");
    let padded = format!(
        "{body}{}",
        " ".repeat(MAX_CHANNEL_BODY_BYTES - body.len() + 1)
    );
    let (status, answer) = call(&state, press(&h.guest_token("guest-f")).body(&padded)).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_create_whose_answer_was_lost_is_found_by_its_unique_name() {
    let h = Harness::start("interactions").await;
    // The first attempt is performed but answered 500; Twilio then refuses the repeat (409).
    Mock::given(method("POST"))
        .and(path_regex("/ConversationWithParticipants$"))
        .respond_with(twilio_error(500, 20500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&h.twilio.conversations)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("/ConversationWithParticipants$"))
        .respond_with(twilio_error(409, 50353))
        .with_priority(2)
        .mount(&h.twilio.conversations)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!(
            "^{SERVICE}/Conversations/[0-9a-f-]{{36}}$"
        )))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"sid": CUSTOM, "state": "active"})),
        )
        .with_priority(1)
        .mount(&h.twilio.conversations)
        .await;
    h.twilio.answer_normally().await;
    let state = h.state().await;

    let (status, body) = call(
        &state,
        press(&h.guest_token("guest-g")).body(&context_body(2)),
    )
    .await;
    assert_eq!(
        (status, body["channelSid"].as_str()),
        (201, Some(CUSTOM)),
        "{body}"
    );
    let creates = requests(&h.twilio.conversations, "/ConversationWithParticipants").await;
    assert_eq!(creates.len(), 2);
    let names: Vec<String> = creates
        .iter()
        .map(|request| field(&form(request), "UniqueName")[0].to_owned())
        .collect();
    assert_eq!(
        names[0], names[1],
        "the repeat carries the same unique name"
    );
    let lookups = requests(&h.twilio.conversations, &names[0]).await;
    assert_eq!(lookups.len(), 1, "found by that name");
    assert_eq!(
        requests(h.flex(), "/v1/Interactions").await.len(),
        1,
        "one task"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn interactions_4xx_is_a_502_and_429_is_retried() {
    let h = Harness::start("interactions").await;
    Mock::given(method("POST"))
        .and(path("/v1/Interactions"))
        .respond_with(twilio_error(400, 45002))
        .with_priority(1)
        .mount(h.flex())
        .await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let (status, body) = call(&state, press(&h.guest_token("guest-h"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("upstream_rejected")),
        "{body}"
    );
    assert_eq!(
        requests(h.flex(), "/v1/Interactions").await.len(),
        1,
        "a 4xx is not repeated"
    );
    assert!(
        matches!(
            state.store.active_slot("guest-h").await.unwrap(),
            Slot::Pending { .. }
        ),
        "the conversation exists: the claim stays, so the press after the lease completes it"
    );

    let h = Harness::start("interactions").await;
    Mock::given(method("POST"))
        .and(path("/v1/Interactions"))
        .respond_with(twilio_error(429, 20429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(h.flex())
        .await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let (status, body) = call(&state, press(&h.guest_token("guest-i"))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        requests(h.flex(), "/v1/Interactions").await.len(),
        2,
        "a 429 refused the whole request, so it is repeated"
    );
}

/// Mounts the answers that show a dead request's conversation and its task.
async fn dead_request_left(
    twilio: &MockServer,
    taskrouter: &MockServer,
    handoff_id: &str,
    with_task: bool,
) {
    Mock::given(method("GET"))
        .and(path(format!("{SERVICE}/Conversations/{handoff_id}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"sid": CUSTOM, "state": "active"})),
        )
        .mount(twilio)
        .await;
    if with_task {
        let attributes = json!({
            "handoffId": handoff_id, "conversationSid": CUSTOM,
            "flexInteractionSid": STAND_IN_INTERACTION_SID,
            "flexInteractionChannelSid": STAND_IN_INTERACTION_CHANNEL_SID,
        });
        Mock::given(method("GET"))
            .and(path("/v1/Workspaces/WS66666666666666666666666666666666/Tasks"))
            .and(wiremock::matchers::query_param(
                "EvaluateTaskAttributes",
                format!("handoffId == \"{handoff_id}\""),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "tasks": [{"sid": "WT00000000000000000000000000000001", "attributes": attributes.to_string()}],
                "meta": {}
            })))
            .mount(taskrouter)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interaction_whose_answer_was_lost_keeps_the_claim_and_is_adopted_after_the_lease() {
    let h = Harness::start("interactions").await;
    Mock::given(method("POST"))
        .and(path("/v1/Interactions"))
        .respond_with(twilio_error(503, 20503))
        .with_priority(1)
        .mount(h.flex())
        .await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let token = h.guest_token("guest-j");
    let (status, body) = call(&state, press(&token)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("upstream_unavailable")),
        "{body}"
    );
    assert_eq!(
        requests(h.flex(), "/v1/Interactions").await.len(),
        1,
        "a 5xx may hide a task: not repeated"
    );
    let Slot::Pending { handoff_id, .. } = state.store.active_slot("guest-j").await.unwrap() else {
        panic!("the claim is kept, so no other press opens a second chat");
    };

    // The task was made after all. After the lease, the next press finds both and adopts them.
    dead_request_left(
        &h.twilio.conversations,
        &h.twilio.taskrouter,
        &handoff_id,
        true,
    )
    .await;
    let later = flex_handoff::unix_now() + 16;
    let response =
        flex_handoff::handlers::channel::channel_response(&state, &press(&token).request(), later)
            .await
            .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        requests(h.flex(), "/v1/Interactions").await.len(),
        1,
        "no second task"
    );
    assert_eq!(
        requests(&h.twilio.conversations, "/ConversationWithParticipants")
            .await
            .len(),
        1
    );
    let record = state.store.chat(CUSTOM).await.unwrap().unwrap();
    assert_eq!(
        record.interaction.unwrap().interaction_sid,
        STAND_IN_INTERACTION_SID
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interaction_whose_answer_was_lost_is_adopted_at_once_when_its_task_is_there() {
    let h = Harness::start("interactions").await;
    Mock::given(method("POST"))
        .and(path("/v1/Interactions"))
        .respond_with(twilio_error(504, 20504))
        .with_priority(1)
        .mount(h.flex())
        .await;
    // The task the unanswered create made, whatever the handoff id turns out to be.
    let attributes = json!({
        "flexInteractionSid": STAND_IN_INTERACTION_SID,
        "flexInteractionChannelSid": STAND_IN_INTERACTION_CHANNEL_SID,
    });
    Mock::given(method("GET"))
        .and(path_regex("/Tasks$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "tasks": [{"sid": "WT00000000000000000000000000000001", "attributes": attributes.to_string()}],
            "meta": {}
        })))
        .with_priority(1)
        .mount(&h.twilio.taskrouter)
        .await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let (status, body) = call(&state, press(&h.guest_token("guest-task-found"))).await;
    assert_eq!(
        (status, body["channelSid"].as_str()),
        (201, Some(CUSTOM)),
        "{body}"
    );
    assert_eq!(requests(h.flex(), "/v1/Interactions").await.len(), 1);
    let handoff_id = field(
        &form(&requests(&h.twilio.conversations, "/ConversationWithParticipants").await[0]),
        "UniqueName",
    )[0]
    .to_owned();
    let lookups = requests(&h.twilio.taskrouter, "/Tasks").await;
    assert_eq!(lookups.len(), 1);
    assert!(
        lookups[0]
            .url
            .query_pairs()
            .any(|(k, v)| k == "EvaluateTaskAttributes" && v.contains(&handoff_id)),
        "looked for by the handoff id"
    );
    let record = state.store.chat(CUSTOM).await.unwrap().unwrap();
    assert_eq!(
        record.interaction.unwrap().channel_sid,
        STAND_IN_INTERACTION_CHANNEL_SID
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_left_by_a_crashed_request_gets_its_history_and_one_task() {
    let h = Harness::start("interactions").await;
    h.twilio.answer_normally().await;
    let state = h.state().await;
    let long_ago = flex_handoff::unix_now() - 60;
    assert!(
        state
            .store
            .claim(
                "guest-k",
                "crashed",
                "handoff-of-the-dead",
                FlexMode::Interactions,
                long_ago,
                15
            )
            .await
            .unwrap()
            .won()
    );
    dead_request_left(
        &h.twilio.conversations,
        &h.twilio.taskrouter,
        "handoff-of-the-dead",
        false,
    )
    .await;

    let (status, body) = call(
        &state,
        press(&h.guest_token("guest-k")).body(&context_body(2)),
    )
    .await;
    assert_eq!(
        (status, body["channelSid"].as_str()),
        (201, Some(CUSTOM)),
        "{body}"
    );
    assert!(
        requests(&h.twilio.conversations, "/ConversationWithParticipants")
            .await
            .is_empty(),
        "no second conversation"
    );
    let webhooks = requests(&h.twilio.conversations, "/Webhooks").await;
    let methods: Vec<&str> = webhooks.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(
        methods,
        ["GET", "POST"],
        "listed, then ours (missing) registered"
    );
    assert_eq!(
        requests(&h.twilio.conversations, "/Messages").await.len(),
        2,
        "listed, then the missing history posted"
    );
    let interactions = requests(h.flex(), "/v1/Interactions").await;
    assert_eq!(interactions.len(), 1);
    let routing = json_field(&form(&interactions[0]), "Routing");
    assert_eq!(
        routing["properties"]["attributes"]["handoffId"],
        "handoff-of-the-dead"
    );
}
