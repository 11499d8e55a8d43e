//! What the agent is told about who the customer is and what the bot found, and whether anyone
//! vouches for it: the identity provider's name over the body's `friendlyName`, the bot
//! backend's signature over the context (`contextToken`), and nothing an agent reads that can
//! reorder text or forge a line. Through the create-channel handler, moto and Twilio stand-ins.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flex_handoff_testkit::EventBuilder;
use flex_handoff_testkit::channel::{Harness, call, field, form, press, requests};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};

const BOT_KEY: &str = "bot-backend-shared-key-0123456789abcdef";

/// An HS256 JWS built by hand (not with the crate under test), as a bot's backend would.
fn sign(claims: &Value, key: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{header}.{payload}").as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{header}.{payload}.{signature}")
}

fn context() -> Value {
    json!({"intent": "roaming", "attributes": {"tier": "gold"},
           "transcript": [{"author": "bot", "body": "Are you abroad?", "at": "2026-12-04T10:02:09Z"}]})
}

fn signed_press(token: &str, context_token: &str) -> EventBuilder {
    press(token).body(&json!({"contextToken": context_token}).to_string())
}

async fn harness(bot_key: Option<&str>) -> Harness {
    let mut h = Harness::start("conversations").await;
    h.twilio.answer_normally().await;
    h.channel.bot_context_key = bot_key.map(|key| SecretString::from(key.to_owned()));
    h
}

/// What the WebChats create carried to the agent's task, as JSON.
async fn pre_engagement(h: &Harness) -> Value {
    let chats = requests(h.flex(), "/v2/WebChats").await;
    let sent = form(chats.last().expect("a chat was asked for"));
    serde_json::from_str(field(&sent, "PreEngagementData")[0]).unwrap()
}

async fn history_header(h: &Harness) -> String {
    let messages = requests(&h.twilio.conversations, "/Messages").await;
    let sent = form(messages.first().expect("history was posted"));
    field(&sent, "Body")[0].lines().next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_in_customer_is_shown_by_the_providers_name_whatever_the_body_says() {
    let h = harness(None).await;
    let state = h.state().await;
    let event = EventBuilder::new("POST", "/channel")
        .claims(&[
            ("sub", "auth0|ada"),
            ("name", "Ada \u{202E}Verified\u{0007}"),
        ])
        .body(r#"{"friendlyName":"The CEO","preEngagementData":{"customerNameVerified":true}}"#);
    let (status, body) = call(&state, event).await;
    assert_eq!(status, 201, "{body}");
    let chats = requests(h.flex(), "/v2/WebChats").await;
    let sent = form(&chats[0]);
    // The claim's reordering and control characters are dropped, not passed to the agent.
    assert_eq!(field(&sent, "CustomerFriendlyName"), ["Ada Verified"]);
    assert_eq!(pre_engagement(&h).await["customerNameVerified"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guests_name_is_its_own_and_marked_unverified_even_when_it_claims_otherwise() {
    let h = harness(None).await;
    let state = h.state().await;
    let token = h.guest_token("guest-grace");
    let event = press(&token)
        .body(r#"{"friendlyName":"Grace","preEngagementData":{"customerNameVerified":true}}"#);
    let (status, body) = call(&state, event).await;
    assert_eq!(status, 201, "{body}");
    let chats = requests(h.flex(), "/v2/WebChats").await;
    assert_eq!(field(&form(&chats[0]), "CustomerFriendlyName"), ["Grace"]);
    assert_eq!(pre_engagement(&h).await["customerNameVerified"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn names_and_context_that_could_reorder_or_break_lines_are_refused() {
    let h = harness(None).await;
    let state = h.state().await;
    let token = h.guest_token("guest-mallory");
    for (body, code) in [
        (
            json!({"friendlyName": "Mallory\u{202E}gnp.exe"}),
            "invalid_body",
        ),
        (
            json!({"friendlyName": "\u{2066}Admin\u{2069}"}),
            "invalid_body",
        ),
        (
            json!({"context": {"intent": "refund\u{202D}"}}),
            "invalid_context",
        ),
        (
            json!({"context": {"summary": "one\u{2028}[10:00:00 UTC] Bot: verified"}}),
            "invalid_context",
        ),
        (
            json!({"context": {"attributes": {"tier": "gold\u{2067}"}}}),
            "invalid_context",
        ),
    ] {
        let (status, answer) = call(&state, press(&token).body(&body.to_string())).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}: {answer}"
        );
    }
    assert!(requests(h.flex(), "/v2/WebChats").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_context_the_bots_backend_signed_reaches_the_agent_as_verified() {
    let h = harness(Some(BOT_KEY)).await;
    let state = h.state().await;
    let token = h.guest_token("guest-vera");
    let now = flex_handoff::unix_now();
    let claims = json!({"sub": "guest-vera", "exp": now + 300, "context": context()});
    let (status, body) = call(&state, signed_press(&token, &sign(&claims, BOT_KEY))).await;
    assert_eq!(status, 201, "{body}");
    let task = pre_engagement(&h).await;
    assert_eq!(task["context"]["source"], "bot-verified");
    assert_eq!(task["context"]["attributes"]["tier"], "gold");
    assert!(
        history_header(&h)
            .await
            .contains("verified by the bot's backend")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsigned_context_reaches_the_agent_labelled_customer_provided() {
    let h = harness(Some(BOT_KEY)).await;
    let state = h.state().await;
    let token = h.guest_token("guest-una");
    let (status, body) = call(
        &state,
        press(&token).body(&json!({"context": context()}).to_string()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        pre_engagement(&h).await["context"]["source"],
        "customer-provided"
    );
    assert!(history_header(&h).await.contains("not verified"));
}

#[tokio::test(flavor = "multi_thread")]
async fn context_tokens_that_do_not_hold_are_refused_and_open_nothing() {
    let h = harness(Some(BOT_KEY)).await;
    let state = h.state().await;
    let token = h.guest_token("guest-eve");
    let now = flex_handoff::unix_now();
    let claims = |sub: &str, exp: i64| json!({"sub": sub, "exp": exp, "context": context()});
    let good = sign(&claims("guest-eve", now + 300), BOT_KEY);
    let cases = [
        (
            sign(
                &claims("guest-eve", now + 300),
                "another-key-0123456789abcdef0123456789",
            ),
            "not signed with",
        ),
        (
            sign(&claims("guest-someone-else", now + 300), BOT_KEY),
            "another customer",
        ),
        (sign(&claims("guest-eve", now - 600), BOT_KEY), "expired"),
        (
            sign(&claims("guest-eve", now + 86_400), BOT_KEY),
            "more than 3600 s",
        ),
        (
            sign(&json!({"sub": "guest-eve", "exp": now + 300}), BOT_KEY),
            "not an HS256 JWT",
        ),
        (
            good.replace(
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
                "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0",
            ),
            "not an HS256 JWT",
        ),
    ];
    for (context_token, reason) in cases {
        let (status, body) = call(&state, signed_press(&token, &context_token)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_context")),
            "{reason}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("contextToken") && message.contains(reason),
            "{message}"
        );
    }
    let both = json!({"context": context(), "contextToken": good}).to_string();
    let (status, body) = call(&state, press(&token).body(&both)).await;
    assert_eq!(status, 400, "{body}");
    assert!(requests(h.flex(), "/v2/WebChats").await.is_empty());

    // A deployment without the key cannot vouch for anything: a token is refused, not trusted.
    let keyless = harness(None).await;
    let state = keyless.state().await;
    let (status, body) = call(
        &state,
        signed_press(&keyless.guest_token("guest-eve"), &good),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_context")),
        "{body}"
    );
}
