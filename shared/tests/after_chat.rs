//! After the chat: the customer rates it and reads its transcript, through chat-graphql's
//! handler, against the local Twilio (every request checked by Prism against Twilio's specs) and
//! a real DynamoDB stand-in. Chats are opened by create-channel's handler and ended by the agent
//! (its signed webhook through flex-webhook's handler) or by the customer (`endChat`).

use std::sync::Arc;

use flex_handoff::handlers::channel::{ChannelState, channel_response};
use flex_handoff::handlers::graphql::{GraphqlState, graphql_response};
use flex_handoff::handlers::webhook::WebhookState;
use flex_handoff::token::TokenIssuer;
use flex_handoff_testkit::channel::press;
use flex_handoff_testkit::graphql::{error_codes, operation};
use flex_handoff_testkit::{
    LocalTwilio, MotoServer, WebhookReceiver, channel_settings, dev_env, dev_settings,
    graphql_settings,
};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SERVICE: &str = "IS33333333333333333333333333333333";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

struct Stack {
    twilio: LocalTwilio,
    _moto: MotoServer,
    receiver: WebhookReceiver,
    channel: ChannelState,
    webhook: WebhookState,
    graphql: GraphqlState,
    issuer: TokenIssuer,
}

impl Stack {
    async fn start(mode: &str, extra: &[(&str, &str)]) -> Self {
        let auth_token = dev_env()["TWILIO_AUTH_TOKEN"].clone();
        let twilio = LocalTwilio::start(&auth_token);
        let moto = MotoServer::start();
        let table = moto.create_channels_table();
        let receiver = WebhookReceiver::start().await;
        let webhook_url = receiver.url.clone();
        let settings = dev_settings(&[]);
        let hosts = [
            ("FLEX_MODE", mode),
            ("CHANNELS_TABLE", &table),
            ("TWILIO_WEBHOOK_URL", &webhook_url),
            ("TWILIO_FLEX_API_URL", &twilio.endpoint),
            ("TWILIO_CHAT_API_URL", &twilio.endpoint),
            ("TWILIO_CONVERSATIONS_API_URL", &twilio.endpoint),
            ("TWILIO_TASKROUTER_API_URL", &twilio.endpoint),
            ("NEW_CHATS_PER_MINUTE", "0"),
        ];
        let channel =
            ChannelState::build(&settings, &channel_settings(&hosts), moto.dynamodb()).await;
        let mut graphql_env = hosts.to_vec();
        graphql_env.extend_from_slice(extra);
        let graphql =
            GraphqlState::build(&settings, &graphql_settings(&graphql_env), moto.dynamodb());
        let webhook = receiver.state(&table, moto.dynamodb());
        Self {
            twilio,
            _moto: moto,
            receiver,
            channel,
            webhook,
            graphql,
            issuer: TokenIssuer::from_settings(&settings),
        }
    }

    fn token(&self, identity: &str) -> String {
        self.token_at(identity, flex_handoff::unix_now())
    }

    fn token_at(&self, identity: &str, now: i64) -> String {
        self.issuer.mint(identity, now).jwt
    }

    /// A press of `identity`'s: the new chat's SID.
    async fn open(&self, identity: &str) -> String {
        let event = press(&self.token(identity)).body(r#"{"friendlyName":"Ada"}"#);
        let opened = channel_response(&self.channel, &event.request(), flex_handoff::unix_now())
            .await
            .unwrap();
        assert_eq!(opened.status(), 201, "{:?}", opened.body());
        let opened: Value = serde_json::from_slice(opened.body().as_ref()).unwrap();
        opened["channelSid"].as_str().unwrap().to_owned()
    }

    async fn agent(&self, sid: &str, action: &str, form: &[(&str, &str)]) -> Value {
        let url = format!("{}/local/chats/{sid}/{action}", self.twilio.endpoint);
        let response = client().post(url).form(form).send().await.unwrap();
        assert!(response.status().is_success(), "{action}");
        serde_json::from_str(&response.text().await.unwrap()).unwrap()
    }

    /// What the agent's page reads: every chat with its task.
    async fn agent_tasks(&self) -> Vec<Value> {
        let url = format!("{}/local/tasks", self.twilio.endpoint);
        let text = client()
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let tasks: Value = serde_json::from_str(&text).unwrap();
        tasks["tasks"].as_array().unwrap().clone()
    }

    /// The customer's message, sent as Twilio's SDK sends it (as the customer's identity).
    async fn customer_says(&self, sid: &str, mode: &str, identity: &str, body: &str) {
        let (url, author) = if mode == "chat" {
            (
                format!(
                    "{}/v2/Services/{SERVICE}/Channels/{sid}/Messages",
                    self.twilio.endpoint
                ),
                "From",
            )
        } else {
            (
                format!(
                    "{}/v1/Services/{SERVICE}/Conversations/{sid}/Messages",
                    self.twilio.endpoint
                ),
                "Author",
            )
        };
        let response = client()
            .post(url)
            .basic_auth("SK22222222222222222222222222222222", Some("secret"))
            .form(&[(author, identity), ("Body", body)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }

    /// The agent ends the chat; its webhook reaches flex-webhook's handler.
    async fn agent_ends(&self, sid: &str) {
        self.agent(sid, "end", &[]).await;
        let closed = self.receiver.deliver_last(&self.webhook).await;
        assert_eq!(closed["result"], "closed", "{closed}");
    }

    async fn graphql_at(
        &self,
        identity: &str,
        query: &str,
        variables: Value,
        now: i64,
    ) -> (u16, Value) {
        let event = operation(&self.token_at(identity, now), query, variables);
        let (response, _) = graphql_response(&self.graphql, &event.request(), now).await;
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice(response.body().as_ref()).unwrap(),
        )
    }

    async fn graphql(&self, identity: &str, query: &str, variables: Value) -> (u16, Value) {
        self.graphql_at(identity, query, variables, flex_handoff::unix_now())
            .await
    }

    async fn rate(&self, identity: &str, sid: &str, score: i64, comment: Value) -> (u16, Value) {
        self.graphql(
            identity,
            RATE,
            json!({"sid": sid, "score": score, "comment": comment}),
        )
        .await
    }
}

const RATE: &str = "mutation($sid: ID!, $score: Int!, $comment: String) {
    rateChat(channelSid: $sid, score: $score, comment: $comment) {
        status rating { score comment ratedAt }
    }
}";

const RATING: &str =
    "query($sid: ID!) { chat(channelSid: $sid) { status rating { score comment } } }";

const TRANSCRIPT: &str = "query($sid: ID!, $first: Int, $after: String) {
    chat(channelSid: $sid) {
        messages(first: $first, after: $after) {
            nodes { author role body at }
            pageInfo { hasNextPage endCursor }
        }
    }
}";

fn codes(body: &Value) -> Vec<String> {
    error_codes(body)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chat_is_rated_once_after_the_agent_or_the_customer_ends_it_and_only_by_its_customer() {
    for mode in ["conversations", "chat", "interactions"] {
        let stack = Stack::start(mode, &[]).await;

        // Still open: refused, nothing stored.
        let sid = stack.open("guest-rater").await;
        let (status, body) = stack.rate("guest-rater", &sid, 5, Value::Null).await;
        assert_eq!(
            (status, codes(&body)),
            (409, vec!["CHAT_STILL_OPEN".to_owned()]),
            "{mode}"
        );

        // The agent ends it: rated, with its comment, once.
        stack.agent_ends(&sid).await;
        let (status, body) = stack.rate("guest-other", &sid, 1, Value::Null).await;
        assert_eq!(
            (status, codes(&body)),
            (404, vec!["CHAT_NOT_FOUND".to_owned()]),
            "{mode}: someone else's chat"
        );
        let (status, body) = stack
            .rate("guest-rater", &sid, 4, json!("  Quick and kind.\nThanks "))
            .await;
        assert_eq!(status, 200, "{mode}: {body}");
        let rated = &body["data"]["rateChat"];
        assert_eq!(rated["status"], "CLOSED");
        assert_eq!(
            (&rated["rating"]["score"], &rated["rating"]["comment"]),
            (&json!(4), &json!("Quick and kind.\nThanks"))
        );
        let (status, body) = stack.rate("guest-rater", &sid, 1, Value::Null).await;
        assert_eq!(
            (status, codes(&body)),
            (409, vec!["ALREADY_RATED".to_owned()]),
            "{mode}"
        );
        let (_, read) = stack
            .graphql("guest-rater", RATING, json!({"sid": sid}))
            .await;
        assert_eq!(
            read["data"]["chat"]["rating"]["score"], 4,
            "{mode}: the first rating stands"
        );
        // Copied to the chat in Twilio, where the agent's side reads it.
        let tasks = stack.agent_tasks().await;
        let task = tasks
            .iter()
            .find(|task| task["channelSid"] == sid.as_str())
            .unwrap();
        assert_eq!(
            (&task["rating"]["score"], &task["rating"]["comment"]),
            (&json!(4), &json!("Quick and kind.\nThanks")),
            "{mode}: {task}"
        );
        if mode == "chat" {
            assert_eq!(
                task["state"], "inactive",
                "the copy keeps the channel ended"
            );
        }

        // The customer ends the next one (endChat): rated as well.
        let sid = stack.open("guest-rater").await;
        let (status, ended) = stack
            .graphql(
                "guest-rater",
                "mutation($sid: ID!) { endChat(channelSid: $sid) { status } }",
                json!({"sid": sid}),
            )
            .await;
        assert_eq!(status, 200, "{mode}: {ended}");
        let (status, body) = stack.rate("guest-rater", &sid, 2, Value::Null).await;
        assert_eq!(status, 200, "{mode}: {body}");
        assert_eq!(body["data"]["rateChat"]["rating"]["comment"], Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_ratings_are_400_and_late_ones_409_and_none_is_stored() {
    let stack = Stack::start("conversations", &[("RATING_WINDOW_HOURS", "1")]).await;
    let sid = stack.open("guest-late").await;
    stack.agent_ends(&sid).await;
    for (score, comment) in [
        (0, Value::Null),
        (6, Value::Null),
        (-1, Value::Null),
        (3, json!("x".repeat(501))),
        (3, json!("fine\u{0007}")),
        (3, json!("evil \u{202E}txt.exe")),
    ] {
        let (status, body) = stack.rate("guest-late", &sid, score, comment.clone()).await;
        assert_eq!(
            (status, codes(&body)),
            (400, vec!["BAD_USER_INPUT".to_owned()]),
            "{score} {comment}"
        );
    }
    let (status, body) = stack.rate("guest-late", "CH123", 3, Value::Null).await;
    assert_eq!(
        (status, codes(&body)),
        (400, vec!["BAD_USER_INPUT".to_owned()])
    );
    // An hour and a minute after closing, with a one-hour window.
    let late = flex_handoff::unix_now() + 3_660;
    let (status, body) = stack
        .graphql_at(
            "guest-late",
            RATE,
            json!({"sid": sid, "score": 3, "comment": null}),
            late,
        )
        .await;
    assert_eq!(
        (status, codes(&body)),
        (409, vec!["RATING_WINDOW_CLOSED".to_owned()])
    );
    let (_, read) = stack
        .graphql("guest-late", RATING, json!({"sid": sid}))
        .await;
    assert_eq!(
        read["data"]["chat"]["rating"],
        Value::Null,
        "nothing stored"
    );
    // Within the window it still can be.
    let (status, _) = stack.rate("guest-late", &sid, 3, json!("")).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_ratings_store_one() {
    let stack = Arc::new(Stack::start("conversations", &[]).await);
    let sid = stack.open("guest-racer").await;
    stack.agent_ends(&sid).await;
    let ratings: Vec<_> = (1..=8)
        .map(|attempt| {
            let stack = Arc::clone(&stack);
            let sid = sid.clone();
            tokio::spawn(async move {
                stack
                    .rate("guest-racer", &sid, 1 + attempt % 5, Value::Null)
                    .await
            })
        })
        .collect();
    let mut stored = Vec::new();
    for rating in ratings {
        let (status, body) = rating.await.unwrap();
        match status {
            200 => stored.push(body["data"]["rateChat"]["rating"]["score"].clone()),
            409 => assert_eq!(codes(&body), ["ALREADY_RATED"]),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(stored.len(), 1, "{stored:?}");
    let (_, read) = stack
        .graphql("guest-racer", RATING, json!({"sid": sid}))
        .await;
    assert_eq!(read["data"]["chat"]["rating"]["score"], stored[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_chat_s_transcript_has_both_sides_in_order_paged_and_agents_unnamed() {
    for mode in ["conversations", "chat", "interactions"] {
        let stack = Stack::start(mode, &[]).await;
        let sid = stack.open("guest-reader").await;
        stack.agent(&sid, "accept", &[]).await;
        stack
            .customer_says(&sid, mode, "guest-reader", "My data stopped")
            .await;
        stack
            .agent(&sid, "messages", &[("Body", "Let me check")])
            .await;
        stack
            .customer_says(&sid, mode, "guest-reader", "Thanks")
            .await;
        stack
            .agent(&sid, "messages", &[("Body", "Fixed: restart the phone")])
            .await;
        stack.agent_ends(&sid).await;

        let mut seen = Vec::new();
        let mut after = Value::Null;
        let mut pages = 0;
        loop {
            let (status, body) = stack
                .graphql(
                    "guest-reader",
                    TRANSCRIPT,
                    json!({"sid": sid, "first": 2, "after": after}),
                )
                .await;
            assert_eq!(status, 200, "{mode}: {body}");
            let messages = &body["data"]["chat"]["messages"];
            let nodes = messages["nodes"].as_array().unwrap();
            assert!(nodes.len() <= 2, "{mode}: a page holds at most `first`");
            for node in nodes {
                assert!(
                    node["at"].as_str().is_some_and(|at| at.ends_with('Z')),
                    "{node}"
                );
                seen.push((
                    node["role"].as_str().unwrap().to_owned(),
                    node["author"].as_str().unwrap().to_owned(),
                    node["body"].as_str().unwrap().to_owned(),
                ));
            }
            pages += 1;
            if messages["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = messages["pageInfo"]["endCursor"].clone();
        }
        let spoken: Vec<_> = seen
            .iter()
            .filter(|(role, ..)| role != "BOT")
            .map(|(role, author, body)| (role.as_str(), author.as_str(), body.as_str()))
            .collect();
        assert_eq!(
            spoken,
            [
                ("CUSTOMER", "You", "My data stopped"),
                ("AGENT", "Agent", "Let me check"),
                ("CUSTOMER", "You", "Thanks"),
                ("AGENT", "Agent", "Fixed: restart the phone"),
            ],
            "{mode}"
        );
        assert_eq!(
            pages,
            seen.len().div_ceil(2),
            "{mode}: one Twilio page per request"
        );

        // Someone else's chat is not theirs to read.
        let (status, body) = stack
            .graphql("guest-other", TRANSCRIPT, json!({"sid": sid}))
            .await;
        assert_eq!(
            (status, &body["data"]["chat"]),
            (200, &Value::Null),
            "{mode}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transcripts_are_read_one_chat_and_at_most_two_pages_per_request() {
    let stack = Stack::start(
        "conversations",
        &[("TRANSCRIPT_AGENT_NAME", "Support team")],
    )
    .await;
    let sid = stack.open("guest-costly").await;
    stack.agent(&sid, "messages", &[("Body", "Hello")]).await;
    let (status, body) = stack
        .graphql("guest-costly", TRANSCRIPT, json!({"sid": sid}))
        .await;
    assert_eq!(status, 200, "{body}");
    let nodes = body["data"]["chat"]["messages"]["nodes"]
        .as_array()
        .unwrap();
    assert_eq!(nodes.last().unwrap()["author"], "Support team");

    // In a list, messages and rating are refused without a Twilio call.
    let (status, body) = stack
        .graphql(
            "guest-costly",
            "{ me { activeChat { messages { nodes { body } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, codes(&body)[0].as_str()),
        (400, "BAD_USER_INPUT"),
        "{body}"
    );

    let pages = |count: usize| {
        let fields: String = (0..count)
            .map(|i| format!("m{i}: messages(first: 50) {{ nodes {{ body }} }} "))
            .collect();
        format!("query($sid: ID!) {{ chat(channelSid: $sid) {{ {fields} }} }}")
    };
    let (status, _) = stack
        .graphql("guest-costly", &pages(2), json!({"sid": sid}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = stack
        .graphql("guest-costly", &pages(3), json!({"sid": sid}))
        .await;
    assert_eq!(
        (status, codes(&body)),
        (400, vec!["QUERY_TOO_COSTLY".to_owned()])
    );
    for bad in [
        json!({"sid": sid, "first": 0}),
        json!({"sid": sid, "first": 51}),
        json!({"sid": sid, "after": "bm9wZQ"}),
    ] {
        let (status, body) = stack.graphql("guest-costly", TRANSCRIPT, bad.clone()).await;
        assert_eq!(
            (status, codes(&body)),
            (400, vec!["BAD_USER_INPUT".to_owned()]),
            "{bad}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn twilio_failures_reading_a_transcript_are_coded_upstream_errors() {
    let failing = MockServer::start().await;
    Mock::given(wiremock::matchers::method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&failing)
        .await;
    let failing_url = failing.uri();
    let stack = Stack::start(
        "conversations",
        &[("TWILIO_CONVERSATIONS_API_URL", failing_url.as_str())],
    )
    .await;
    let sid = stack.open("guest-unlucky").await;
    let (status, body) = stack
        .graphql("guest-unlucky", TRANSCRIPT, json!({"sid": sid}))
        .await;
    assert_eq!(
        (status, codes(&body)),
        (503, vec!["UPSTREAM_UNAVAILABLE".to_owned()]),
        "{body}"
    );
    let calls = failing.received_requests().await.unwrap().len();
    assert!((1..=4).contains(&calls), "bounded retries: {calls}");

    // Rating needs the table alone: a Twilio that refuses the copy costs nothing of it.
    stack.agent_ends(&sid).await;
    let (status, body) = stack.rate("guest-unlucky", &sid, 5, Value::Null).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["rateChat"]["rating"]["score"], 5);

    // A chat Twilio no longer has: gone, not a failure of ours.
    let stack = Stack::start("chat", &[]).await;
    let ghost = "CH0000000000000000000000000000dead";
    flex_handoff_testkit::open_chat(&stack.channel.store, "guest-ghost", ghost).await;
    let (status, body) = stack
        .graphql("guest-ghost", TRANSCRIPT, json!({"sid": ghost}))
        .await;
    assert_eq!(
        (status, codes(&body)),
        (410, vec!["TRANSCRIPT_GONE".to_owned()]),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_customer_reads_a_limited_number_of_transcript_pages() {
    let stack = Stack::start(
        "conversations",
        &[
            ("TRANSCRIPT_PAGES_PER_MINUTE", "1"),
            ("TRANSCRIPT_PAGES_BURST", "2"),
        ],
    )
    .await;
    let sid = stack.open("guest-poller").await;
    let other = stack.open("guest-patient").await;
    for _ in 0..2 {
        let (status, body) = stack
            .graphql("guest-poller", TRANSCRIPT, json!({"sid": sid}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = stack
        .graphql("guest-poller", TRANSCRIPT, json!({"sid": sid}))
        .await;
    assert_eq!(
        (status, codes(&body)),
        (429, vec!["RATE_LIMITED".to_owned()]),
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("transcript pages"),
        "{body}"
    );
    // Another customer's budget is their own.
    let (status, body) = stack
        .graphql("guest-patient", TRANSCRIPT, json!({"sid": other}))
        .await;
    assert_eq!(status, 200, "{body}");
}
