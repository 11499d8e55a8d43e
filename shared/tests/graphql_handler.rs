//! `POST /graphql` through its handler against moto (the identity index, pages, other
//! customers' chats) and wiremock for Twilio (ending a chat in each mode, Twilio failing), and the
//! request limits: depth, complexity, page size, body size, batches, introspection, callers.

use flex_handoff::flex::FlexMode;
use flex_handoff::store::ChatStatus;
use flex_handoff::store::Slot;
use flex_handoff_testkit::channel::{form, twilio_error};
use flex_handoff_testkit::graphql::{GraphqlHarness, error_codes, operation};
use flex_handoff_testkit::{
    EventBuilder, STAND_IN_INTERACTION_CHANNEL_SID, STAND_IN_INTERACTION_SID, TwilioStandIns,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const T0: i64 = 1_800_000_000;
const SERVICE: &str = "/v2/Services/IS33333333333333333333333333333333";
const CONVERSATIONS: &str = "/v1/Services/IS33333333333333333333333333333333/Conversations";

fn sid(n: u32) -> String {
    format!("CH{n:032x}")
}

const ME: &str = "query($first: Int!, $after: String) {
  me { identity activeChat { channelSid mode status createdAt }
       chats(first: $first, after: $after) {
         edges { cursor node { channelSid mode status createdAt closedAt } }
         pageInfo { hasNextPage endCursor } } } }";

const END: &str =
    "mutation($sid: ID!) { endChat(channelSid: $sid) { channelSid status closedAt } }";

/// `count` chats of `identity`, one a second from T0, every one closed but the newest.
async fn history(h: &GraphqlHarness, identity: &str, count: u32, first_sid: u32) -> Vec<String> {
    let mut sids = Vec::new();
    for i in 0..count {
        let channel = sid(first_sid + i);
        h.open(
            identity,
            &channel,
            FlexMode::Conversations,
            T0 + i64::from(i),
        )
        .await;
        if i + 1 < count {
            h.store.close(&channel, T0 + i64::from(i)).await.unwrap();
        }
        sids.push(channel);
    }
    sids
}

fn node_sids(body: &Value) -> Vec<String> {
    body["data"]["me"]["chats"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["channelSid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_pages_through_more_than_fifty_chats_newest_first_and_sees_only_their_own() {
    let h = GraphqlHarness::start(false).await;
    let mut ada = history(&h, "guest-ada", 55, 1).await;
    let bob = history(&h, "guest-bob", 3, 1000).await;
    ada.reverse();
    let token = h.guest_token("guest-ada");

    let (status, first) = h.ask(operation(&token, ME, json!({"first": 50}))).await;
    assert_eq!(status, 200, "{first}");
    assert!(first.get("errors").is_none(), "{first}");
    let me = &first["data"]["me"];
    assert_eq!(me["identity"], "guest-ada");
    assert_eq!(me["activeChat"]["channelSid"], ada[0].as_str());
    assert_eq!(me["activeChat"]["status"], "ACTIVE");
    assert_eq!(me["activeChat"]["mode"], "CONVERSATIONS");
    assert_eq!(node_sids(&first), ada[..50]);
    assert_eq!(me["chats"]["pageInfo"]["hasNextPage"], true);
    let newest = &me["chats"]["edges"][0]["node"];
    assert_eq!(
        (newest["status"].as_str(), newest["closedAt"].as_str()),
        (Some("ACTIVE"), None)
    );
    assert_eq!(newest["createdAt"], "2027-01-15T08:00:54Z");
    let closed = &me["chats"]["edges"][1]["node"];
    assert_eq!(closed["status"], "CLOSED");
    assert_eq!(closed["closedAt"], "2027-01-15T08:00:53Z");

    let after = me["chats"]["pageInfo"]["endCursor"].as_str().unwrap();
    let (status, rest) = h
        .ask(operation(&token, ME, json!({"first": 50, "after": after})))
        .await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(node_sids(&rest), ada[50..]);
    assert_eq!(
        rest["data"]["me"]["chats"]["pageInfo"]["hasNextPage"],
        false
    );

    // Without `first`, or with null, a page is 20.
    for page in ["chats", "chats(first: null)"] {
        let query = format!("{{ me {{ {page} {{ edges {{ node {{ channelSid }} }} }} }} }}");
        let (status, body) = h.ask(operation(&token, &query, json!({}))).await;
        assert_eq!(
            (status, node_sids(&body)),
            (200, ada[..20].to_vec()),
            "{page}"
        );
    }

    // Exactly a page's worth left: no next page, and no empty page to fetch.
    let after = first["data"]["me"]["chats"]["edges"][44]["cursor"]
        .as_str()
        .unwrap();
    let (_, tail) = h
        .ask(operation(&token, ME, json!({"first": 10, "after": after})))
        .await;
    assert_eq!(node_sids(&tail), ada[45..]);
    assert_eq!(
        tail["data"]["me"]["chats"]["pageInfo"]["hasNextPage"],
        false
    );

    // Bob's chats are not Ada's, by list or by SID.
    let (_, bobs) = h
        .ask(operation(
            &h.guest_token("guest-bob"),
            ME,
            json!({"first": 50}),
        ))
        .await;
    let mut listed = node_sids(&bobs);
    listed.reverse();
    assert_eq!(listed, bob);
    let (status, body) = h
        .ask(operation(
            &token,
            "query($sid: ID!) { chat(channelSid: $sid) { channelSid } }",
            json!({"sid": bob[0]}),
        ))
        .await;
    assert_eq!(
        (status, &body["data"]["chat"]),
        (200, &Value::Null),
        "{body}"
    );
    let (_, own) = h
        .ask(operation(
            &token,
            "query($sid: ID!) { chat(channelSid: $sid) { channelSid status } }",
            json!({"sid": ada[3]}),
        ))
        .await;
    assert_eq!(own["data"]["chat"]["status"], "CLOSED", "{own}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_index_holds_chat_records_only_never_the_active_pointers() {
    let h = GraphqlHarness::start(false).await;
    history(&h, "guest-ada", 2, 1).await;
    // A pending claim, as a press in progress leaves it.
    assert!(
        h.store
            .claim("guest-cy", "c", "c", FlexMode::Conversations, T0, 15)
            .await
            .unwrap()
            .won()
    );
    let table = &h.table;
    let indexed = h
        .dynamodb
        .scan()
        .table_name(table)
        .index_name(flex_handoff::store::CHATS_BY_IDENTITY_INDEX)
        .send()
        .await
        .unwrap();
    let mut keys: Vec<String> = indexed
        .items
        .unwrap()
        .iter()
        .map(|item| item["pk"].as_s().unwrap().clone())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [format!("chat#{}", sid(1)), format!("chat#{}", sid(2))]
    );
    // The index projects what the list reads, not the whole record.
    let item = &h
        .dynamodb
        .query()
        .table_name(table)
        .index_name(flex_handoff::store::CHATS_BY_IDENTITY_INDEX)
        .key_condition_expression("#i = :i")
        .expression_attribute_names("#i", "identity")
        .expression_attribute_values(
            ":i",
            aws_sdk_dynamodb::types::AttributeValue::S("guest-ada".into()),
        )
        .send()
        .await
        .unwrap()
        .items
        .unwrap()[0];
    let mut attributes: Vec<&str> = item.keys().map(String::as_str).collect();
    attributes.sort();
    assert_eq!(
        attributes,
        [
            "channelSid",
            "closedAt",
            "createdAt",
            "identity",
            "mode",
            "pk",
            "status"
        ]
    );
}

async fn mount_conversation_close(twilio: &TwilioStandIns, sid: &str, answer: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(format!("{CONVERSATIONS}/{sid}")))
        .respond_with(answer)
        .mount(&twilio.conversations)
        .await;
}

fn closed_conversation(sid: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"sid": sid, "state": "closed"}))
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `identity` ends `channel` through the handler.
async fn end_as(h: &GraphqlHarness, identity: &str, channel: &str) -> (u16, Value) {
    h.ask(operation(
        &h.guest_token(identity),
        END,
        json!({"sid": channel}),
    ))
    .await
}

async fn assert_twilio_untouched(h: &GraphqlHarness) {
    let asked = h.twilio.conversations.received_requests().await.unwrap();
    assert!(asked.is_empty(), "Twilio was asked: {asked:?}");
}

/// Asserts the chat is closed as the webhook closes it: closed, TTL set, slot free.
async fn assert_closed_like_the_webhook(h: &GraphqlHarness, identity: &str, channel: &str) {
    let record = h.store.chat(channel).await.unwrap().unwrap();
    assert_eq!(record.status, ChatStatus::Closed);
    let closed_at = record.closed_at.expect("closedAt");
    assert_eq!(record.expires_at, Some(closed_at + 30 * 86_400));
    assert_eq!(h.store.active_slot(identity).await.unwrap(), Slot::Empty);
}

#[tokio::test(flavor = "multi_thread")]
async fn ending_a_conversations_chat_closes_the_conversation_then_the_record_once() {
    let h = GraphqlHarness::start(false).await;
    let channel = sid(7);
    h.open("guest-ada", &channel, FlexMode::Conversations, T0)
        .await;
    mount_conversation_close(&h.twilio, &channel, closed_conversation(&channel)).await;
    let token = h.guest_token("guest-ada");

    let (status, body) = h.ask(operation(&token, END, json!({"sid": channel}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["endChat"]["status"], "CLOSED");
    assert!(body["data"]["endChat"]["closedAt"].is_string());
    let closes = TwilioStandIns::requests(&h.twilio.conversations, &channel).await;
    assert_eq!(closes.len(), 1);
    assert_eq!(form(&closes[0]), pairs(&[("State", "closed")]));
    assert_closed_like_the_webhook(&h, "guest-ada", &channel).await;

    // Twice: answered as it is, nothing sent to Twilio again.
    let (status, again) = h.ask(operation(&token, END, json!({"sid": channel}))).await;
    assert_eq!(
        (status, &again["data"]["endChat"]),
        (200, &body["data"]["endChat"])
    );
    assert_eq!(
        TwilioStandIns::requests(&h.twilio.conversations, &channel)
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ending_an_interactions_chat_closes_the_interaction_channel_with_its_task_then_the_conversation()
 {
    let h = GraphqlHarness::start(false).await;
    let channel = sid(8);
    h.open("guest-ada", &channel, FlexMode::Interactions, T0)
        .await;
    let interaction = format!(
        "/v1/Interactions/{STAND_IN_INTERACTION_SID}/Channels/{STAND_IN_INTERACTION_CHANNEL_SID}"
    );
    Mock::given(method("POST"))
        .and(path(interaction.clone()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "closed"})))
        .mount(&h.twilio.flex)
        .await;
    // Flex closed the conversation with the channel: the second close is refused, and the
    // conversation is found closed.
    mount_conversation_close(&h.twilio, &channel, twilio_error(400, 50446)).await;
    Mock::given(method("GET"))
        .and(path(format!("{CONVERSATIONS}/{channel}")))
        .respond_with(closed_conversation(&channel))
        .mount(&h.twilio.conversations)
        .await;

    let (status, body) = end_as(&h, "guest-ada", &channel).await;
    assert_eq!(status, 200, "{body}");
    let closes = TwilioStandIns::requests(&h.twilio.flex, &interaction).await;
    assert_eq!(
        form(&closes[0]),
        pairs(&[("Status", "closed"), ("Routing", r#"{"status":"closed"}"#)])
    );
    assert_closed_like_the_webhook(&h, "guest-ada", &channel).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ending_a_legacy_chat_marks_the_channel_inactive_keeping_flexs_attributes() {
    let h = GraphqlHarness::start(false).await;
    let channel = sid(9);
    h.open("guest-ada", &channel, FlexMode::Chat, T0).await;
    let channel_path = format!("{SERVICE}/Channels/{channel}");
    Mock::given(method("GET"))
        .and(path(channel_path.clone()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sid": channel, "attributes": r#"{"status":"ACTIVE","from":"Ada","channel_type":"web"}"#
        })))
        .mount(&h.twilio.chat)
        .await;
    Mock::given(method("POST"))
        .and(path(channel_path.clone()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sid": channel})))
        .mount(&h.twilio.chat)
        .await;

    let (status, body) = end_as(&h, "guest-ada", &channel).await;
    assert_eq!(status, 200, "{body}");
    let updates: Vec<_> = TwilioStandIns::requests(&h.twilio.chat, &channel_path)
        .await
        .into_iter()
        .filter(|request| request.method.as_str() == "POST")
        .collect();
    assert_eq!(updates.len(), 1);
    let attributes: Value = serde_json::from_str(&form(&updates[0])[0].1).unwrap();
    assert_eq!(
        attributes,
        json!({"status": "INACTIVE", "from": "Ada", "channel_type": "web"})
    );
    assert_closed_like_the_webhook(&h, "guest-ada", &channel).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn when_twilio_fails_the_chat_and_its_record_stay_open_and_the_error_says_so() {
    let h = GraphqlHarness::start(false).await;
    let channel = sid(10);
    h.open("guest-ada", &channel, FlexMode::Conversations, T0)
        .await;
    let token = h.guest_token("guest-ada");
    for (answer, http_status, code) in [
        (ResponseTemplate::new(503), 503, "UPSTREAM_UNAVAILABLE"),
        (twilio_error(403, 20003), 502, "UPSTREAM_REJECTED"),
    ] {
        h.twilio.conversations.reset().await;
        mount_conversation_close(&h.twilio, &channel, answer).await;
        Mock::given(method("GET"))
            .and(path(format!("{CONVERSATIONS}/{channel}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"sid": channel, "state": "active"})),
            )
            .mount(&h.twilio.conversations)
            .await;
        let (status, body) = h.ask(operation(&token, END, json!({"sid": channel}))).await;
        assert_eq!(status, http_status, "{body}");
        assert_eq!(body["data"], Value::Null);
        assert_eq!(error_codes(&body), [code]);
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("still open"), "{message}");
        assert!(
            !message.contains("Twilio error"),
            "no upstream detail: {message}"
        );
        let record = h.store.chat(&channel).await.unwrap().unwrap();
        assert_eq!((record.status.as_str(), record.closed_at), ("active", None));
        assert!(matches!(
            h.store.active_slot("guest-ada").await.unwrap(),
            Slot::Active(chat) if chat.channel_sid == channel
        ));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_ends_a_chat_that_is_not_theirs_and_bad_sids_touch_nothing() {
    let h = GraphqlHarness::start(false).await;
    let channel = sid(11);
    h.open("guest-bob", &channel, FlexMode::Conversations, T0)
        .await;
    let token = h.guest_token("guest-ada");
    for (sid, status, code) in [
        (channel.clone(), 404, "CHAT_NOT_FOUND"),
        (sid(12), 404, "CHAT_NOT_FOUND"),
        ("CH123".to_owned(), 400, "BAD_USER_INPUT"),
        (
            "IS00000000000000000000000000000001".to_owned(),
            400,
            "BAD_USER_INPUT",
        ),
    ] {
        let (got, body) = h.ask(operation(&token, END, json!({"sid": sid}))).await;
        assert_eq!(
            (got, error_codes(&body)),
            (status, vec![code.to_owned()]),
            "{sid}: {body}"
        );
    }
    assert_twilio_untouched(&h).await;
    assert_eq!(
        h.store.chat(&channel).await.unwrap().unwrap().status,
        ChatStatus::Active
    );
}

/// Aliases and fragments once let one request run hundreds of store reads and `endChat`s. Now
/// a request is priced by what its resolvers reach and refused whole, before anything runs.
#[tokio::test(flavor = "multi_thread")]
async fn requests_are_priced_by_the_reads_and_calls_they_cause_and_refused_whole() {
    let h = GraphqlHarness::start(false).await;
    let (first, second) = (sid(21), sid(22));
    h.open("guest-ada", &first, FlexMode::Conversations, T0)
        .await;
    h.open("guest-bob", &second, FlexMode::Conversations, T0)
        .await;
    let token = h.guest_token("guest-ada");
    let query = |text: String| {
        EventBuilder::new("POST", "/graphql")
            .bearer(&token)
            .body(&json!({"query": text}).to_string())
    };
    let reads = |count: usize| -> String {
        (0..count)
            .map(|i| format!("c{i}: chat(channelSid: \"{first}\") {{ status }} "))
            .collect()
    };

    let (status, body) = h.ask(query(format!("{{ {} }}", reads(10)))).await;
    assert_eq!(status, 200, "ten reads are within the limit: {body}");
    assert_eq!(body["data"]["c9"]["status"], "ACTIVE");

    let refused = [
        format!("{{ {} }}", reads(11)),
        format!("{{ {} me {{ activeChat {{ status }} }} }}", reads(10)),
        format!(
            "mutation {{ a: endChat(channelSid: \"{first}\") {{ status }} b: endChat(channelSid: \"{second}\") {{ status }} }}"
        ),
        format!(
            "mutation {{ ...E ...E }} fragment E on Mutation {{ endChat(channelSid: \"{first}\") {{ status }} }}"
        ),
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }".to_owned(),
    ];
    for text in refused {
        let (status, body) = h.ask(query(text.clone())).await;
        assert_eq!(
            (status, error_codes(&body)),
            (400, vec!["QUERY_TOO_COSTLY".to_owned()]),
            "{text}: {body}"
        );
        assert!(body.get("data").is_none(), "nothing ran: {body}");
    }
    // Nothing was ended, and Twilio was never asked.
    for channel in [&first, &second] {
        assert_eq!(
            h.store.chat(channel).await.unwrap().unwrap().status,
            ChatStatus::Active
        );
    }
    assert_twilio_untouched(&h).await;

    let directives = "@include(if: true) ".repeat(5);
    let (status, body) = h
        .ask(query(format!("{{ me {{ identity {directives} }} }}")))
        .await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["GRAPHQL_VALIDATION_FAILED".to_owned()]),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_without_a_caller_is_unauthenticated() {
    let h = GraphqlHarness::start(false).await;
    let query = json!({"query": "{ me { identity } }"}).to_string();
    let no_caller = EventBuilder::new("POST", "/graphql").body(&query);
    let (status, body) = h.ask(no_caller).await;
    assert_eq!(
        (status, error_codes(&body)),
        (401, vec!["UNAUTHENTICATED".to_owned()])
    );
    assert!(body.get("data").is_none(), "{body}");
    let forged = EventBuilder::new("POST", "/graphql")
        .bearer("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl")
        .body(&query);
    let (status, body) = h.ask(forged).await;
    assert_eq!(
        (status, error_codes(&body)),
        (401, vec!["UNAUTHENTICATED".to_owned()])
    );
    // Signed-in callers are their authorizer's `sub`.
    let signed_in = EventBuilder::new("POST", "/graphql")
        .claims(&[("sub", "auth0|ada")])
        .body(&query);
    let (status, body) = h.ask(signed_in).await;
    assert_eq!(
        (status, &body["data"]["me"]["identity"]),
        (200, &json!("auth0|ada"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_refuse_what_is_too_complex_too_large_batched_or_malformed() {
    let h = GraphqlHarness::start(false).await;
    let token = h.guest_token("guest-ada");
    let raw = |body: &str| {
        EventBuilder::new("POST", "/graphql")
            .bearer(&token)
            .body(body)
    };
    let query = |text: &str| raw(&json!({"query": text}).to_string());
    let aliases: String = (0..3)
        .map(|i| format!("a{i}: me {{ chats(first: 50) {{ edges {{ cursor node {{ channelSid mode status createdAt closedAt }} }} pageInfo {{ hasNextPage endCursor }} }} }} "))
        .collect();
    let cases = [
        (
            query(&format!("{{ {aliases} }}")),
            400,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (query("{ me { nope } }"), 400, "GRAPHQL_VALIDATION_FAILED"),
        (
            query("{ me { chats(first: \"x\") { pageInfo { hasNextPage } } } }"),
            400,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (query("{ me { identity "), 400, "GRAPHQL_PARSE_FAILED"),
        (
            raw(r#"[{"query":"{ me { identity } }"}]"#),
            400,
            "BATCH_NOT_SUPPORTED",
        ),
        (raw("{"), 400, "INVALID_JSON"),
        (raw(r#"{"variables":{}}"#), 400, "BAD_REQUEST"),
        (
            raw(&format!(
                r#"{{"query":"{{ me {{ identity }} }}","pad":"{}"}}"#,
                "x".repeat(16 * 1024)
            )),
            413,
            "BODY_TOO_LARGE",
        ),
        (
            EventBuilder::new("GET", "/graphql").bearer(&token),
            405,
            "METHOD_NOT_ALLOWED",
        ),
    ];
    for (event, status, code) in cases {
        let (got, body) = h.ask(event).await;
        let codes = error_codes(&body);
        assert!(
            got == status && !codes.is_empty() && codes.iter().all(|c| c == code),
            "{status} {code}: {got} {body}"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Page sizes outside 0-50 and forged cursors are the caller's mistake, never a 5xx.
    for (variables, code) in [
        (json!({"first": 51}), "BAD_USER_INPUT"),
        (json!({"first": -1}), "BAD_USER_INPUT"),
        (
            json!({"first": 5, "after": "not-a-cursor"}),
            "BAD_USER_INPUT",
        ),
        (
            json!({"first": 5, "after": "MTIzLklTMDAw"}),
            "BAD_USER_INPUT",
        ),
    ] {
        let (status, body) = h.ask(operation(&token, ME, variables.clone())).await;
        assert_eq!(
            (status, error_codes(&body)),
            (400, vec![code.to_owned()]),
            "{variables}: {body}"
        );
    }
    // Introspection is off here: the schema describes nothing (async-graphql answers null).
    let (status, body) = h
        .ask(query(
            "{ __schema { types { name } } __type(name: \"Chat\") { name } }",
        ))
        .await;
    assert_eq!(
        (status, &body["data"]),
        (200, &json!({"__schema": null, "__type": null})),
        "{body}"
    );
    // The largest page of every field is within the limits.
    let (status, body) = h.ask(operation(&token, ME, json!({"first": 50}))).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_answers_only_where_it_is_turned_on() {
    let h = GraphqlHarness::start(true).await;
    let event = operation(
        &h.guest_token("guest-ada"),
        "{ __schema { queryType { name } } }",
        json!({}),
    );
    let (status, body) = h.ask(event).await;
    assert_eq!(
        (status, &body["data"]["__schema"]["queryType"]["name"]),
        (200, &json!("Query")),
        "{body}"
    );
    // The schema's own fields are at most 5 deep; introspection is where depth is unbounded.
    let nested = |depth: usize| {
        let open =
            "{ __schema { types { fields { type ".to_owned() + &"{ ofType ".repeat(depth - 5);
        open + "{ name }" + &" }".repeat(depth - 5) + " } } } }"
    };
    let (status, body) = h
        .ask(operation(
            &h.guest_token("guest-ada"),
            &nested(6),
            json!({}),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = h
        .ask(operation(
            &h.guest_token("guest-ada"),
            &nested(7),
            json!({}),
        ))
        .await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["GRAPHQL_VALIDATION_FAILED".to_owned()]),
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("deep"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_customer_and_the_agent_ending_at_once_end_the_chat_once() {
    use flex_handoff::config::WebhookSettings;
    use flex_handoff::handlers::webhook::{WebhookState, webhook_response};
    use flex_handoff_testkit::{dev_env, twilio_form_signature};

    let h = GraphqlHarness::start(false).await;
    let public_url = "https://abc123.execute-api.eu-west-1.amazonaws.com/twilio/webhook";
    let webhook = WebhookState::build(
        &WebhookSettings {
            auth_token: secrecy::SecretString::from(dev_env()["TWILIO_AUTH_TOKEN"].clone()),
            table: h.table.clone(),
            closed_retention_days: 30,
            public_url: public_url.into(),
            connection_overrides: None,
            queue_name: "default".into(),
        },
        h.dynamodb.clone(),
    );
    let mut winners = [0; 2];
    for round in 0..20 {
        let identity = format!("guest-race-{round}");
        let channel = sid(100 + round);
        h.open(&identity, &channel, FlexMode::Conversations, T0)
            .await;
        mount_conversation_close(&h.twilio, &channel, closed_conversation(&channel)).await;
        let params = [
            ("EventType", "onConversationStateUpdated"),
            ("ConversationSid", channel.as_str()),
            ("StateFrom", "active"),
            ("StateTo", "closed"),
        ];
        let signature = twilio_form_signature(&dev_env()["TWILIO_AUTH_TOKEN"], public_url, &params);
        let agent = EventBuilder::new("POST", "/twilio/webhook")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", &signature)
            .body(
                &url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params)
                    .finish(),
            )
            .request();
        let customer = operation(&h.guest_token(&identity), END, json!({"sid": channel}));
        // Each closer stamps its own time, so the record tells which one closed it.
        let now = flex_handoff::unix_now();
        let (customer_now, agent_now) = (now + 10, now + 20);
        // The first round the agent ends it first and the last round the customer does; in
        // between the agent's event comes 5 ms later each round, racing the customer's
        // Twilio call and close.
        let agent_delay = std::time::Duration::from_millis(5 * u64::from(round));
        let (customer, agent) = match round {
            0 => {
                let agent = webhook_response(&webhook, &agent, agent_now).await;
                (h.ask_at(customer, customer_now).await, agent)
            }
            19 => {
                let customer = h.ask_at(customer, customer_now).await;
                (
                    customer,
                    webhook_response(&webhook, &agent, agent_now).await,
                )
            }
            _ => tokio::join!(h.ask_at(customer, customer_now), async {
                tokio::time::sleep(agent_delay).await;
                webhook_response(&webhook, &agent, agent_now).await
            }),
        };
        assert_eq!(customer.0, 200, "{}", customer.1);
        assert_eq!(customer.1["data"]["endChat"]["status"], "CLOSED");
        let agent: Value = serde_json::from_slice(agent.unwrap().body().as_ref()).unwrap();
        let record = h.store.chat(&channel).await.unwrap().unwrap();
        let closer = match agent["result"].as_str() {
            Some("closed") => agent_now,
            Some("already_closed") => customer_now,
            _ => panic!("{agent}"),
        };
        assert_eq!(record.closed_at, Some(closer), "exactly one closed it");
        assert_eq!(
            customer.1["data"]["endChat"]["closedAt"],
            flex_handoff::http::rfc3339(closer).unwrap(),
            "the customer is answered with the one close"
        );
        winners[usize::from(closer == agent_now)] += 1;
        assert_closed_like_the_webhook(&h, &identity, &channel).await;
    }
    println!(
        "closed first: customer {}, agent {}",
        winners[0], winners[1]
    );
    assert!(
        winners.iter().all(|won| *won > 0),
        "both orders happened: {winners:?}"
    );
}
