//! `POST /twilio/webhook` through its handler against a real DynamoDB-compatible server, with
//! requests signed by Twilio's own library; and the whole cycle: open, agent closes, open anew.

use flex_handoff::config::WebhookSettings;
use flex_handoff::handlers::channel::{ChannelState, channel_response};
use flex_handoff::handlers::webhook::{WebhookState, webhook_response};
use flex_handoff::store::ChatStatus;
use flex_handoff::store::{ChannelStore, Slot};
use flex_handoff::token::TokenIssuer;
use flex_handoff_testkit::{
    EventBuilder, MotoServer, TwilioStandIns, dev_settings, twilio_form_signature,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const PUBLIC_URL: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/twilio/webhook";
const SID: &str = "CH00000000000000000000000000000001";

struct Harness {
    _moto: MotoServer,
    table: String,
    dynamodb: aws_sdk_dynamodb::Client,
    state: WebhookState,
}

impl Harness {
    async fn start() -> Self {
        let moto = MotoServer::start();
        let table = moto.create_channels_table();
        let dynamodb = moto.dynamodb();
        let state = WebhookState::build(&webhook_settings(&table), dynamodb.clone());
        Self {
            _moto: moto,
            table,
            dynamodb,
            state,
        }
    }

    fn store(&self) -> &ChannelStore {
        &self.state.store
    }

    /// An active chat for `identity`, as create-channel leaves it.
    async fn open_chat(&self, identity: &str, sid: &str) {
        flex_handoff_testkit::open_chat(self.store(), identity, sid).await;
    }
}

fn webhook_settings(table: &str) -> WebhookSettings {
    WebhookSettings {
        auth_token: secrecy::SecretString::from(auth_token()),
        table: table.into(),
        closed_retention_days: 30,
        public_url: PUBLIC_URL.into(),
        connection_overrides: Some(
            flex_handoff::config::webhook::DEFAULT_CONNECTION_OVERRIDES.into(),
        ),
        queue_name: QUEUE.into(),
    }
}

fn auth_token() -> String {
    flex_handoff_testkit::dev_env()["TWILIO_AUTH_TOKEN"].clone()
}

fn form_body(params: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// A webhook as Twilio sends it: form body, signed with the account auth token.
fn signed(params: &[(&str, &str)]) -> EventBuilder {
    let signature = twilio_form_signature(&auth_token(), PUBLIC_URL, params);
    unsigned(params).header("x-twilio-signature", &signature)
}

fn unsigned(params: &[(&str, &str)]) -> EventBuilder {
    EventBuilder::new("POST", "/twilio/webhook")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(&form_body(params))
}

async fn call(state: &WebhookState, event: EventBuilder) -> (u16, Value) {
    let response = match webhook_response(state, &event.request(), flex_handoff::unix_now()).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    (
        response.status().as_u16(),
        serde_json::from_slice(response.body().as_ref()).unwrap(),
    )
}

fn legacy_inactive(sid: &str) -> Vec<(&str, &str)> {
    vec![
        ("EventType", "onChannelUpdated"),
        ("ChannelSid", sid),
        ("Attributes", r#"{"status":"INACTIVE","long_lived":false}"#),
        ("AccountSid", "AC11111111111111111111111111111111"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_inactive_event_closes_the_chat_once() {
    let h = Harness::start().await;
    h.open_chat("guest-a", SID).await;

    let (status, body) = call(&h.state, signed(&legacy_inactive(SID))).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("closed")),
        "{body}"
    );
    let record = h.store().chat(SID).await.unwrap().unwrap();
    assert_eq!(record.status, ChatStatus::Closed);
    let closed_at = record.closed_at.unwrap();
    assert_eq!(record.expires_at, Some(closed_at + 30 * 86_400));
    assert_eq!(h.store().active_slot("guest-a").await.unwrap(), Slot::Empty);

    // Twilio retries and duplicates: harmless.
    let (status, body) = call(&h.state, signed(&legacy_inactive(SID))).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("already_closed"))
    );
    assert_eq!(
        h.store().chat(SID).await.unwrap().unwrap().closed_at,
        Some(closed_at)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_conversation_closed_event_closes_the_chat() {
    let h = Harness::start().await;
    h.open_chat("guest-b", SID).await;
    let inactive = [
        ("EventType", "onConversationStateUpdated"),
        ("ConversationSid", SID),
        ("StateFrom", "active"),
        ("StateTo", "inactive"),
    ];
    let (status, body) = call(&h.state, signed(&inactive)).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("ignored")),
        "inactive is not closed"
    );
    assert_eq!(
        h.store().chat(SID).await.unwrap().unwrap().status,
        ChatStatus::Active
    );

    let closed = [
        ("EventType", "onConversationStateUpdated"),
        ("ConversationSid", SID),
        ("StateFrom", "inactive"),
        ("StateTo", "closed"),
    ];
    let (status, body) = call(&h.state, signed(&closed)).await;
    assert_eq!((status, body["result"].as_str()), (200, Some("closed")));
    assert_eq!(
        h.store().chat(SID).await.unwrap().unwrap().status,
        ChatStatus::Closed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn other_events_and_unknown_channels_are_acknowledged_without_change() {
    let h = Harness::start().await;
    h.open_chat("guest-c", SID).await;
    let message = [
        ("EventType", "onMessageSent"),
        ("ChannelSid", SID),
        ("Body", "hello"),
    ];
    let (status, body) = call(&h.state, signed(&message)).await;
    assert_eq!((status, body["result"].as_str()), (200, Some("ignored")));
    let unknown = "CH99999999999999999999999999999999";
    let (status, body) = call(&h.state, signed(&legacy_inactive(unknown))).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("unknown_channel"))
    );
    assert_eq!(
        h.store().chat(SID).await.unwrap().unwrap().status,
        ChatStatus::Active
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_or_badly_signed_webhooks_read_and_write_nothing() {
    let h = Harness::start().await;
    h.open_chat("guest-d", SID).await;
    let params = legacy_inactive(SID);

    let (status, body) = call(&h.state, unsigned(&params)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("missing_signature"))
    );
    let (status, body) = call(&h.state, unsigned(&[("garbage", "{")])).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("missing_signature")),
        "before parsing"
    );

    let signature = twilio_form_signature(&auth_token(), PUBLIC_URL, &params);
    let mut tampered = params.clone();
    tampered[1].1 = "CH00000000000000000000000000000002";
    let forged = unsigned(&tampered).header("x-twilio-signature", &signature);
    let (status, body) = call(&h.state, forged).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("invalid_signature"))
    );
    let wrong_key = twilio_form_signature("not-the-auth-token", PUBLIC_URL, &params);
    let (status, _) = call(
        &h.state,
        unsigned(&params).header("x-twilio-signature", &wrong_key),
    )
    .await;
    assert_eq!(status, 403);

    assert_eq!(
        h.store().chat(SID).await.unwrap().unwrap().status,
        ChatStatus::Active,
        "nothing was closed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_but_malformed_events_are_400() {
    let h = Harness::start().await;
    for params in [
        vec![("ChannelSid", SID)],
        vec![
            ("EventType", "onChannelDestroyed"),
            ("ChannelSid", "not-a-sid"),
        ],
        vec![
            ("EventType", "onChannelUpdated"),
            ("ChannelSid", SID),
            ("Attributes", "{oops"),
        ],
    ] {
        let (status, body) = call(&h.state, signed(&params)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_webhook")),
            "{params:?}"
        );
    }
    let (status, _) = call(&h.state, EventBuilder::new("GET", "/twilio/webhook")).await;
    assert_eq!(status, 405);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unavailable_table_is_a_503_so_twilio_retries() {
    let h = Harness::start().await;
    let state = WebhookState::build(&webhook_settings("missing-table"), h.dynamodb.clone());
    let (status, body) = call(&state, signed(&legacy_inactive(SID))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("store_unavailable"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn open_then_agent_closes_then_the_next_press_opens_a_new_chat() {
    let h = Harness::start().await;
    let twilio = TwilioStandIns::start().await;
    let (first, second) = (
        "CH0000000000000000000000000000aaaa",
        "CH0000000000000000000000000000bbbb",
    );
    Mock::given(method("POST"))
        .and(path("/v2/WebChats"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"conversation_sid": first})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&twilio.flex)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/WebChats"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"conversation_sid": second})))
        .with_priority(2)
        .mount(&twilio.flex)
        .await;
    twilio.answer_normally().await;
    let settings = dev_settings(&[]);
    let channel_settings = twilio.channel_settings(&[
        ("CHANNELS_TABLE", h.table.as_str()),
        ("TWILIO_WEBHOOK_URL", PUBLIC_URL),
    ]);
    let channels = ChannelState::build(&settings, &channel_settings, h.dynamodb.clone()).await;
    let token = TokenIssuer::from_settings(&settings)
        .mint("guest-cycle", flex_handoff::unix_now())
        .jwt;
    let press = || {
        EventBuilder::new("POST", "/channel")
            .bearer(&token)
            .request()
    };
    let channels = &channels;
    let open = |request| async move {
        channel_response(channels, &request, flex_handoff::unix_now())
            .await
            .unwrap()
    };

    let created = open(press()).await;
    assert_eq!(created.status(), 201);
    assert_eq!(open(press()).await.status(), 200, "still active: reused");

    let closed = [
        ("EventType", "onConversationStateUpdated"),
        ("ConversationSid", first),
        ("StateTo", "closed"),
    ];
    let (status, body) = call(&h.state, signed(&closed)).await;
    assert_eq!((status, body["result"].as_str()), (200, Some("closed")));

    let reopened = open(press()).await;
    assert_eq!(reopened.status(), 201, "a fresh chat, not the dead one");
    let reopened: Value = serde_json::from_slice(reopened.body().as_ref()).unwrap();
    assert_eq!(reopened["channelSid"], second);
    let history = h.store().chat(first).await.unwrap().unwrap();
    assert_eq!(
        (history.status.as_str(), history.identity.as_str()),
        ("closed", "guest-cycle")
    );
    assert!(history.expires_at.is_some(), "history until its TTL");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interactions_chat_ends_like_a_conversation_and_the_next_press_gets_a_new_handoff() {
    let h = Harness::start().await;
    let twilio = TwilioStandIns::start().await;
    let (first, second) = (
        "CH0000000000000000000000000000cccc",
        "CH0000000000000000000000000000dddd",
    );
    for (priority, sid) in [(1, first), (2, second)] {
        let mock = Mock::given(method("POST"))
            .and(wiremock::matchers::path_regex(
                "/ConversationWithParticipants$",
            ))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(json!({"sid": sid, "state": "active"})),
            )
            .with_priority(priority);
        if priority == 1 {
            mock.up_to_n_times(1).mount(&twilio.conversations).await;
        } else {
            mock.mount(&twilio.conversations).await;
        }
    }
    twilio.answer_normally().await;
    let settings = dev_settings(&[]);
    let channel_settings = twilio.channel_settings(&[
        ("FLEX_MODE", "interactions"),
        ("CHANNELS_TABLE", h.table.as_str()),
        ("TWILIO_WEBHOOK_URL", PUBLIC_URL),
    ]);
    let channels = ChannelState::build(&settings, &channel_settings, h.dynamodb.clone()).await;
    let token = TokenIssuer::from_settings(&settings)
        .mint("guest-interactions", flex_handoff::unix_now())
        .jwt;
    let press = || async {
        let request = EventBuilder::new("POST", "/channel")
            .bearer(&token)
            .request();
        channel_response(&channels, &request, flex_handoff::unix_now())
            .await
            .unwrap()
    };
    assert_eq!(press().await.status(), 201);

    // Flex closes the conversation when the agent completes the task.
    let closed = [
        ("EventType", "onConversationStateUpdated"),
        ("ConversationSid", first),
        ("StateTo", "closed"),
    ];
    let (status, body) = call(&h.state, signed(&closed)).await;
    assert_eq!((status, body["result"].as_str()), (200, Some("closed")));
    let history = h.store().chat(first).await.unwrap().unwrap();
    assert_eq!(history.status, ChatStatus::Closed);
    assert!(
        history.interaction.is_some(),
        "the closed record keeps the Interaction for closing it later"
    );

    let reopened = press().await;
    assert_eq!(reopened.status(), 201);
    let reopened: Value = serde_json::from_slice(reopened.body().as_ref()).unwrap();
    assert_eq!(reopened["channelSid"], second);
    let names: Vec<String> =
        TwilioStandIns::requests(&twilio.conversations, "/ConversationWithParticipants")
            .await
            .iter()
            .map(|request| {
                url::form_urlencoded::parse(&request.body)
                    .find(|(key, _)| key == "UniqueName")
                    .unwrap()
                    .1
                    .into_owned()
            })
            .collect();
    assert_eq!(names.len(), 2);
    assert_ne!(names[0], names[1], "each handoff has its own unique name");
    let Slot::Active(active) = h.store().active_slot("guest-interactions").await.unwrap() else {
        panic!("the new chat is the customer's active one");
    };
    assert_eq!(active.channel_sid, second);
}

const QUEUE: &str = "WQ88888888888888888888888888888888";

fn joined<'a>(
    event_type: &'a str,
    sid_field: &'a str,
    identity: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("EventType", event_type),
        (sid_field, SID),
        ("Identity", identity),
        ("ParticipantSid", "MB00000000000000000000000000000001"),
        ("AccountSid", "AC11111111111111111111111111111111"),
    ]
}

/// The queue's recorded acceptances over the last buckets.
async fn recent_waits(h: &Harness) -> (u64, u64) {
    let log = flex_handoff::availability::acceptance::AcceptanceLog::new(
        h.dynamodb.clone(),
        &h.table,
        QUEUE,
    );
    let recent = log.recent(flex_handoff::unix_now()).await.unwrap();
    (recent.accepted, recent.total_wait_seconds)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_joining_records_the_acceptance_once_and_the_customer_joining_does_not() {
    for (event_type, sid_field) in [
        ("onParticipantAdded", "ConversationSid"),
        ("onMemberAdded", "ChannelSid"),
    ] {
        let h = Harness::start().await;
        h.open_chat("guest-a", SID).await;

        // The customer's own participant: not an acceptance.
        let (status, body) =
            call(&h.state, signed(&joined(event_type, sid_field, "guest-a"))).await;
        assert_eq!(
            (status, body["result"].as_str()),
            (200, Some("customer_joined"))
        );
        assert_eq!(
            h.store().chat(SID).await.unwrap().unwrap().accepted_at,
            None
        );
        assert_eq!(recent_waits(&h).await, (0, 0));

        let (status, body) = call(&h.state, signed(&joined(event_type, sid_field, "alex"))).await;
        assert_eq!(
            (status, body["result"].as_str()),
            (200, Some("accepted")),
            "{body}"
        );
        let record = h.store().chat(SID).await.unwrap().unwrap();
        let accepted_at = record.accepted_at.expect("acceptedAt recorded");
        assert!(accepted_at >= record.created_at);
        let (accepted, waited) = recent_waits(&h).await;
        assert_eq!(accepted, 1);
        assert_eq!(waited, (accepted_at - record.created_at) as u64);

        // Twilio's retry, and a second agent (a transfer): the first acceptance stands.
        for agent in ["alex", "sam"] {
            let (_, body) = call(&h.state, signed(&joined(event_type, sid_field, agent))).await;
            assert_eq!(body["result"], "already_accepted", "{agent}");
        }
        assert_eq!(recent_waits(&h).await.0, 1);
        assert_eq!(
            h.store().chat(SID).await.unwrap().unwrap().accepted_at,
            Some(accepted_at)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_deliveries_of_one_join_count_one_acceptance() {
    let h = std::sync::Arc::new(Harness::start().await);
    h.open_chat("guest-a", SID).await;
    let deliveries: Vec<_> = (0..16)
        .map(|_| {
            let h = std::sync::Arc::clone(&h);
            tokio::spawn(async move {
                call(
                    &h.state,
                    signed(&joined("onParticipantAdded", "ConversationSid", "alex")),
                )
                .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for delivery in deliveries {
        let (status, body) = delivery.await.unwrap();
        assert_eq!(status, 200, "{body}");
        results.push(body["result"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        results.iter().filter(|r| *r == "accepted").count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| r == "accepted" || r == "already_accepted")
    );
    assert_eq!(recent_waits(&h).await.0, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_join_after_the_chat_closed_or_for_an_unknown_chat_records_nothing() {
    let h = Harness::start().await;
    let event = joined("onParticipantAdded", "ConversationSid", "alex");
    let (_, body) = call(&h.state, signed(&event)).await;
    assert_eq!(body["result"], "unknown_channel");

    h.open_chat("guest-a", SID).await;
    let (_, body) = call(&h.state, signed(&legacy_inactive(SID))).await;
    assert_eq!(body["result"], "closed");
    let (status, body) = call(&h.state, signed(&event)).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("already_closed"))
    );
    assert_eq!(
        h.store().chat(SID).await.unwrap().unwrap().accepted_at,
        None
    );
    assert_eq!(recent_waits(&h).await, (0, 0));

    // An SMS participant has no identity: acknowledged, nothing read.
    let sms = [
        ("EventType", "onParticipantAdded"),
        ("ConversationSid", SID),
        ("MessagingBinding.Address", "+15550100"),
    ];
    let (status, body) = call(&h.state, signed(&sms)).await;
    assert_eq!((status, body["result"].as_str()), (200, Some("ignored")));
}
