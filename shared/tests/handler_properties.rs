//! Arbitrary requests through every handler: methods, headers, query strings, bodies (text, JSON
//! near the real shapes, base64 bytes) and webhook parameters. Whatever arrives: no panic (the
//! release profile aborts on panic, killing the instance), never a 5xx, every error in the
//! `{"error":{"code","message"}}` shape (GraphQL's own shape on `/graphql`), nothing written for
//! a refused request, nothing written for a webhook without a valid signature, and no GraphQL
//! operation ending another customer's chat. DynamoDB is moto; Twilio the wiremock
//! stand-ins answering as Twilio does, so a request that is valid may open a chat.

use std::collections::BTreeMap;

use base64::Engine as _;
use flex_handoff::config::WebhookSettings;
use flex_handoff::handlers::channel::{ChannelState, channel_response};
use flex_handoff::handlers::token::{TokenState, token_response};
use flex_handoff::handlers::webhook::{WebhookState, webhook_response};
use flex_handoff::store::Slot;
use flex_handoff_testkit::channel::Harness;
use flex_handoff_testkit::{EventBuilder, dev_settings};
use futures_util::FutureExt as _;
use std::cell::Cell;

use hmac::{Hmac, KeyInit, Mac};
use lambda_http::{Body, Request, Response};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

const PUBLIC_URL: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/twilio/webhook";
const OPEN_SID: &str = "CH00000000000000000000000000000077";

#[derive(Debug, Clone)]
enum BodyInput {
    None,
    Text(String),
    Json(Value),
    Base64(Vec<u8>),
}

#[derive(Debug, Clone)]
struct RequestInput {
    method: String,
    headers: Vec<(String, String)>,
    query: String,
    body: BodyInput,
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "[a-z]{1,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys the handlers know, mixed with any others.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "friendlyName", "preEngagementData", "context", "intent", "summary", "locale",
            "attributes", "transcript", "author", "body", "at", "identity", "ttl",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    // What an API Gateway event can carry in a header: visible ASCII and spaces, and any other
    // character (obs-text arrives as UTF-8); control characters cannot cross HTTP/1.1 or HTTP/2.
    prop_oneof![3 => "[ -~]{0,60}", 1 => "[^\\x00-\\x1f\\x7f]{0,30}"]
}

fn request_input() -> impl Strategy<Value = RequestInput> {
    let method = prop_oneof![
        8 => Just("POST".to_owned()),
        1 => prop::sample::select(vec!["GET", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD"])
            .prop_map(str::to_owned),
    ];
    let header_name = prop_oneof![
        prop::sample::select(vec![
            "content-type",
            "authorization",
            "x-twilio-signature",
            "content-encoding",
            "x-forwarded-for",
            "accept",
        ])
        .prop_map(str::to_owned),
        "x-[a-z]{1,10}",
    ];
    let headers = prop::collection::vec((header_name, header_value()), 0..5);
    let body = prop_oneof![
        1 => Just(BodyInput::None),
        2 => ".{0,200}".prop_map(BodyInput::Text),
        4 => json_value().prop_map(BodyInput::Json),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(BodyInput::Base64),
    ];
    // Raw, as API Gateway delivers `rawQueryString`: whatever bytes the client sent, unencoded
    // (`"`, `<`, DEL, spaces, stray `%`), or well-formed pairs.
    let query = prop_oneof![
        prop::collection::vec((".{0,10}", ".{0,20}"), 0..4).prop_map(|pairs| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
        }),
        ".{0,40}",
        "[\"<>\\x7f%# ^`{|}a=&]{0,20}",
    ];
    (method, headers, query, body).prop_map(|(method, headers, query, body)| RequestInput {
        method,
        headers,
        query,
        body,
    })
}

/// The API Gateway event for `input` on `path`, with `extra` headers set last, converted as the
/// functions convert it; `None` when the event cannot be decoded (the runtime refuses it with
/// an error before any handler runs, and the instance lives on).
fn event(input: &RequestInput, path: &str, extra: &[(&str, &str)]) -> Option<Request> {
    let mut builder = EventBuilder::new(&input.method, path);
    for (name, value) in &input.headers {
        builder = builder.header(name, value);
    }
    for (name, value) in extra {
        builder = builder.header(name, value);
    }
    let mut event: Value = serde_json::from_str(&builder.to_json()).unwrap();
    event["rawQueryString"] = json!(input.query);
    match &input.body {
        BodyInput::None => {}
        BodyInput::Text(text) => event["body"] = json!(text),
        BodyInput::Json(value) => event["body"] = json!(value.to_string()),
        BodyInput::Base64(bytes) => {
            event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
            event["isBase64Encoded"] = json!(true);
        }
    }
    flex_handoff::lambda::request_from_event(&event.to_string()).ok()
}

/// Fails unless `response` is a 2xx/4xx whose error, if any, has the documented shape.
fn check_response(response: &Response<Body>) -> Result<u16, TestCaseError> {
    let status = response.status().as_u16();
    prop_assert!(status < 500, "a {status} for input: {:?}", response.body());
    let body: Value = serde_json::from_slice(response.body().as_ref())
        .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
    if status >= 400 {
        let error = body["error"].as_object();
        prop_assert!(
            error
                .is_some_and(|e| e["code"].is_string() && e["message"].is_string() && e.len() == 2),
            "{body}"
        );
    }
    Ok(status)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn respond(result: Result<Response<Body>, flex_handoff::error::ApiError>) -> Response<Body> {
    result.unwrap_or_else(|error| error.into_response())
}

#[test]
fn token_requests_of_any_shape_get_a_2xx_or_a_clear_4xx() {
    let state = TokenState::without_limits(&dev_settings(&[]));
    let issuer = flex_handoff::token::TokenIssuer::from_settings(&dev_settings(&[]));
    let now = flex_handoff::unix_now();
    let valid = issuer.mint("guest-prop", now).jwt;
    let decoded = Cell::new(0);
    runner(512)
        .run(&(request_input(), 0..3usize), |(input, auth)| {
            let bearer = format!("Bearer {valid}");
            let extra: &[(&str, &str)] = match auth {
                0 => &[],
                1 => &[("authorization", &bearer)],
                _ => &[("authorization", "Bearer not.a.token")],
            };
            let Some(request) = event(&input, "/token", extra) else {
                return Ok(());
            };
            decoded.set(decoded.get() + 1);
            let answer = token_response(&state, &request, now)
                .now_or_never()
                .expect("no I/O without limits");
            check_response(&respond(answer))?;
            Ok(())
        })
        .unwrap();
    assert!(
        decoded.get() > 400,
        "most generated events decode: {}",
        decoded.get()
    );
}

#[test]
fn channel_requests_of_any_shape_never_5xx_and_write_nothing_when_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (harness, state) = runtime.block_on(async {
        let harness = Harness::start("conversations").await;
        harness.twilio.answer_normally().await;
        let state: ChannelState = harness.state().await;
        (harness, state)
    });
    let case = Cell::new(0);
    let opened = Cell::new(0);
    runner(160)
        .run(
            &(request_input(), 0..4usize, channel_body()),
            |(mut input, auth, body)| {
                case.set(case.get() + 1);
                let identity = format!("guest-prop-{}", case.get());
                let token = harness.guest_token(&identity);
                let bearer = format!("Bearer {token}");
                if auth == 3 {
                    // Near the real shape, so validation beyond JSON syntax is reached.
                    input.body = BodyInput::Json(body);
                    input.method = "POST".into();
                }
                let extra: &[(&str, &str)] = match auth {
                    0 => &[],
                    2 => &[("authorization", "Bearer x.y.z")],
                    _ => &[
                        ("authorization", &bearer),
                        ("content-type", "application/json"),
                    ],
                };
                let Some(request) = event(&input, "/channel", extra) else {
                    return Ok(());
                };
                let now = flex_handoff::unix_now();
                let response = runtime.block_on(channel_response(&state, &request, now));
                let status = check_response(&respond(response))?;
                let slot = runtime
                    .block_on(state.store.active_slot(&identity))
                    .unwrap();
                if status >= 400 {
                    prop_assert!(
                        matches!(slot, Slot::Empty),
                        "a refused request left {slot:?}"
                    );
                } else {
                    opened.set(opened.get() + 1);
                    prop_assert!(
                        matches!(slot, Slot::Active(_)),
                        "{status} without a chat: {slot:?}"
                    );
                }
                Ok(())
            },
        )
        .unwrap();
    assert!(
        opened.get() > 0,
        "some generated requests are valid and open a chat"
    );
}

/// `POST /channel` bodies with the real fields and values of every kind.
fn channel_body() -> impl Strategy<Value = Value> {
    let text = prop_oneof![".{0,80}", "[a-zA-Z ]{1,20}"];
    let message = (
        prop::sample::select(vec!["bot", "customer", "agent"]),
        text.clone(),
        prop_oneof!["2026-12-04T10:0[0-9]:00Z", ".{0,25}"],
    )
        .prop_map(|(author, body, at)| json!({"author": author, "body": body, "at": at}));
    let context = (
        prop::option::of(text.clone()),
        prop::option::of(text.clone()),
        prop::option::of(prop_oneof!["en-GB", "es", ".{0,12}"]),
        prop::option::of(prop::collection::btree_map(
            "[A-Za-z0-9_]{1,10}",
            prop_oneof![
                any::<bool>().prop_map(Value::from),
                any::<i32>().prop_map(Value::from),
                "[ -~]{0,20}".prop_map(Value::from),
                Just(json!([1]))
            ],
            0..5,
        )),
        prop::option::of(prop::collection::vec(message, 0..4)),
        prop::option::of(json_value()),
    )
        .prop_map(|(intent, summary, locale, attributes, transcript, junk)| {
            let mut context = serde_json::Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    context.insert(k.into(), v);
                }
            };
            put("intent", intent.map(Value::from));
            put("summary", summary.map(Value::from));
            put("locale", locale.map(Value::from));
            put(
                "attributes",
                attributes.map(|a| Value::Object(a.into_iter().collect())),
            );
            put("transcript", transcript.map(Value::from));
            put("extra", junk);
            Value::Object(context)
        });
    (
        prop::option::of(text),
        prop::option::of(prop::collection::btree_map(
            "[a-z]{1,6}",
            json_value(),
            0..4,
        )),
        prop::option::of(context),
    )
        .prop_map(|(name, pre, context)| {
            let mut body = serde_json::Map::new();
            if let Some(name) = name {
                body.insert("friendlyName".into(), name.into());
            }
            if let Some(pre) = pre {
                body.insert(
                    "preEngagementData".into(),
                    Value::Object(pre.into_iter().collect()),
                );
            }
            if let Some(context) = context {
                body.insert("context".into(), context);
            }
            Value::Object(body)
        })
}

/// Twilio's signature over `url` and form `params` (distinct keys), as its libraries compute it.
fn twilio_signature(auth_token: &str, url: &str, params: &BTreeMap<String, String>) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (key, value) in params {
        mac.update(key.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn webhook_params() -> impl Strategy<Value = BTreeMap<String, String>> {
    let known = prop::collection::btree_map(
        prop::sample::select(vec![
            "EventType",
            "ConversationSid",
            "ChannelSid",
            "StateTo",
            "StateFrom",
            "Attributes",
            "ChannelAttributes",
        ])
        .prop_map(str::to_owned),
        prop_oneof![
            prop::sample::select(vec![
                "onConversationStateUpdated",
                "onConversationRemoved",
                "onChannelUpdated",
                "onChannelDestroyed",
                "closed",
                "inactive",
                OPEN_SID,
                r#"{"status":"INACTIVE"}"#,
                r#"{"status":"ACTIVE"}"#,
            ])
            .prop_map(str::to_owned),
            ".{0,40}",
        ],
        0..6,
    );
    let other = prop::collection::btree_map("[A-Za-z]{1,10}", ".{0,20}", 0..3);
    (known, other).prop_map(|(mut known, other)| {
        known.extend(other);
        known
    })
}

#[test]
fn webhooks_of_any_shape_never_5xx_and_write_nothing_without_a_valid_signature() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let moto = flex_handoff_testkit::MotoServer::start();
    let table = moto.create_channels_table();
    let auth_token = flex_handoff_testkit::dev_env()["TWILIO_AUTH_TOKEN"].clone();
    let state = WebhookState::build(
        &WebhookSettings {
            auth_token: secrecy::SecretString::from(auth_token.clone()),
            table,
            closed_retention_days: 30,
            public_url: PUBLIC_URL.into(),
            connection_overrides: None,
            queue_name: "default".into(),
        },
        moto.dynamodb(),
    );
    let reopen = || {
        runtime.block_on(async {
            if !matches!(
                state.store.active_slot("guest-open").await.unwrap(),
                Slot::Active(_)
            ) {
                flex_handoff_testkit::open_chat(
                    &state.store,
                    "guest-open",
                    &format!("CH{}", uuid::Uuid::new_v4().simple()),
                )
                .await;
            }
        })
    };
    let signed_cases = Cell::new(0);
    runner(192)
        .run(
            &(request_input(), webhook_params(), 0..3usize),
            |(mut input, params, signing)| {
                // The open chat the unsigned requests try to close.
                reopen();
                let before = runtime
                    .block_on(state.store.active_slot("guest-open"))
                    .unwrap();
                let Slot::Active(open) = &before else {
                    unreachable!("reopened above")
                };
                let params: BTreeMap<String, String> = params
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            if v == OPEN_SID {
                                open.channel_sid.clone()
                            } else {
                                v
                            },
                        )
                    })
                    .collect();
                let form = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&params)
                    .finish();
                if signing > 0 {
                    input.body = BodyInput::Text(form);
                    input.method = "POST".into();
                    input.query.clear();
                    input
                        .headers
                        .retain(|(name, _)| name != "content-type" && name != "x-twilio-signature");
                }
                let signature = match signing {
                    2 => twilio_signature(&auth_token, PUBLIC_URL, &params),
                    // Signed with another key: as good as none.
                    1 => twilio_signature("not-the-auth-token", PUBLIC_URL, &params),
                    _ => String::new(),
                };
                let extra: Vec<(&str, &str)> = if signing > 0 {
                    vec![
                        ("content-type", "application/x-www-form-urlencoded"),
                        ("x-twilio-signature", signature.as_str()),
                    ]
                } else {
                    vec![]
                };
                let Some(request) = event(&input, "/twilio/webhook", &extra) else {
                    return Ok(());
                };
                let now = flex_handoff::unix_now();
                let status = check_response(&respond(
                    runtime.block_on(webhook_response(&state, &request, now)),
                ))?;
                let after = runtime
                    .block_on(state.store.active_slot("guest-open"))
                    .unwrap();
                if signing == 2 {
                    signed_cases.set(signed_cases.get() + 1);
                } else {
                    prop_assert!(
                        status >= 400,
                        "accepted without a valid signature: {status}"
                    );
                    prop_assert_eq!(&after, &before, "written without a valid signature");
                }
                Ok(())
            },
        )
        .unwrap();
    assert!(
        signed_cases.get() > 30,
        "signed webhooks reach the handler: {}",
        signed_cases.get()
    );
}

/// GraphQL's error shape: every error has a message and a string `extensions.code`.
fn check_graphql_response(response: &Response<Body>) -> Result<u16, TestCaseError> {
    let status = response.status().as_u16();
    prop_assert!(status < 500, "a {status}: {:?}", response.body());
    let body: Value = serde_json::from_slice(response.body().as_ref())
        .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
    let errors = body["errors"].as_array();
    prop_assert_eq!(status != 200, errors.is_some(), "{}", body);
    for error in errors.into_iter().flatten() {
        prop_assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty())
                && error["extensions"]["code"].is_string(),
            "{}",
            body
        );
    }
    Ok(status)
}

const OWN_SID: &str = "CH00000000000000000000000000000078";

/// `POST /graphql` bodies: the schema's operations with arguments of every kind, deep and wide
/// selections, and text that is no GraphQL at all.
fn graphql_body() -> impl Strategy<Value = Value> {
    let sid = prop_oneof![
        Just(OPEN_SID.to_owned()),
        Just(OWN_SID.to_owned()),
        "CH[0-9a-f]{32}",
        ".{0,40}",
    ];
    let quoted = |text: String| serde_json::to_string(&text).unwrap();
    let operation = prop_oneof![
        (any::<i32>(), prop::option::of(".{0,30}")).prop_map(move |(first, after)| {
            let after = after.map(|a| format!(", after: {}", quoted(a))).unwrap_or_default();
            format!("{{ me {{ identity activeChat {{ channelSid }} chats(first: {first}{after}) {{ edges {{ cursor node {{ channelSid mode status createdAt closedAt }} }} pageInfo {{ hasNextPage endCursor }} }} }} }}")
        }),
        sid.clone().prop_map(move |s| format!("{{ chat(channelSid: {}) {{ channelSid status }} }}", quoted(s))),
        sid.prop_map(move |s| format!("mutation {{ endChat(channelSid: {}) {{ status closedAt }} }}", quoted(s))),
        (1..12usize).prop_map(|aliases| format!("{{ {} }}", (0..aliases).map(|i| format!("a{i}: me {{ chats(first: 50) {{ edges {{ node {{ channelSid }} }} }} }}")).collect::<Vec<_>>().join(" "))),
        (1..10usize).prop_map(|depth| format!("{}{}", "{ __schema { types { fields { type ".to_owned() + &"{ ofType ".repeat(depth), "{ name }".to_owned() + &" }".repeat(depth) + " } } } }")),
        ".{0,80}",
    ];
    (
        operation,
        prop::option::of(json_value()),
        prop::option::of(".{0,20}"),
    )
        .prop_map(|(query, variables, operation_name)| {
            let mut body = json!({"query": query});
            if let Some(variables) = variables {
                body["variables"] = variables;
            }
            if let Some(name) = operation_name {
                body["operationName"] = json!(name);
            }
            body
        })
}

#[test]
fn graphql_requests_of_any_shape_never_5xx_and_never_touch_anothers_chat() {
    use flex_handoff::handlers::graphql::graphql_response;
    use flex_handoff_testkit::graphql::GraphqlHarness;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let harness = runtime.block_on(async {
        let harness = GraphqlHarness::start(true).await;
        harness.twilio.answer_normally().await;
        let now = flex_handoff::unix_now();
        harness
            .open(
                "guest-other",
                OPEN_SID,
                flex_handoff::flex::FlexMode::Conversations,
                now,
            )
            .await;
        harness
            .open(
                "guest-prop",
                OWN_SID,
                flex_handoff::flex::FlexMode::Conversations,
                now,
            )
            .await;
        harness
    });
    let token = harness.guest_token("guest-prop");
    let bearer = format!("Bearer {token}");
    let answered = Cell::new(0);
    runner(256)
        .run(
            &(request_input(), 0..4usize, graphql_body()),
            |(mut input, auth, body)| {
                if auth >= 2 {
                    input.body = BodyInput::Json(body);
                    input.method = "POST".into();
                }
                let extra: &[(&str, &str)] = match auth {
                    0 => &[],
                    1 => &[("authorization", "Bearer x.y.z")],
                    _ => &[("authorization", &bearer)],
                };
                let Some(request) = event(&input, "/graphql", extra) else {
                    return Ok(());
                };
                let (response, _) = runtime.block_on(graphql_response(
                    &harness.state,
                    &request,
                    flex_handoff::unix_now(),
                ));
                if check_graphql_response(&response)? == 200 {
                    answered.set(answered.get() + 1);
                }
                let other = runtime
                    .block_on(harness.store.chat(OPEN_SID))
                    .unwrap()
                    .unwrap();
                prop_assert_eq!(other.status.as_str(), "active", "another's chat was ended");
                Ok(())
            },
        )
        .unwrap();
    assert!(answered.get() > 0, "some generated operations are answered");
}
