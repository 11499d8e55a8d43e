//! The per-client limits on new guests and new chats (README, "Security"), against a real
//! DynamoDB-compatible server: the bucket itself, under concurrency, and through the token and
//! channel handlers as API Gateway events from one address or several.

use flex_handoff::config::{RateLimit, TokenSettings};
use flex_handoff::handlers::token::{TokenState, token_response};
use flex_handoff::rate_limit::{RateLimiter, Verdict};
use flex_handoff::store::Slot;
use flex_handoff_testkit::channel::{Harness, call_at, press, requests};
use flex_handoff_testkit::{EventBuilder, MotoServer, dev_settings};
use serde_json::Value;

const NOW: i64 = 1_800_000_000;
const NOW_MS: i64 = NOW * 1000;

fn limiter(moto: &MotoServer, table: &str, per_minute: u32, burst: u32) -> RateLimiter {
    RateLimiter::new(
        moto.dynamodb(),
        table,
        "test",
        RateLimit { per_minute, burst },
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_allows_its_burst_then_one_per_interval_and_says_when() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    // 6 a minute: one every 10 s; 3 at once.
    let limiter = limiter(&moto, &table, 6, 3);
    for taken in 0..3 {
        assert_eq!(
            limiter.take("198.51.100.1", NOW_MS).await.unwrap(),
            Verdict::Allowed,
            "token {taken} of the burst"
        );
    }
    assert_eq!(
        limiter.take("198.51.100.1", NOW_MS).await.unwrap(),
        Verdict::Limited {
            retry_after_seconds: 10
        }
    );
    assert_eq!(
        limiter.take("198.51.100.1", NOW_MS + 4_000).await.unwrap(),
        Verdict::Limited {
            retry_after_seconds: 6
        }
    );
    // Another client has its own bucket.
    assert_eq!(
        limiter.take("198.51.100.2", NOW_MS).await.unwrap(),
        Verdict::Allowed
    );
    // One interval later, exactly one more.
    assert_eq!(
        limiter.take("198.51.100.1", NOW_MS + 10_000).await.unwrap(),
        Verdict::Allowed
    );
    assert!(matches!(
        limiter.take("198.51.100.1", NOW_MS + 10_000).await.unwrap(),
        Verdict::Limited { .. }
    ));
    // Idle long enough, the whole burst is back.
    for _ in 0..3 {
        assert_eq!(
            limiter.take("198.51.100.1", NOW_MS + 60_000).await.unwrap(),
            Verdict::Allowed
        );
    }
    // A limit of 0 a minute is no limit, and writes nothing.
    let off = self::limiter(&moto, &table, 0, 1);
    for _ in 0..5 {
        assert_eq!(
            off.take("198.51.100.1", NOW_MS).await.unwrap(),
            Verdict::Allowed
        );
    }
}

/// Lambda runs many instances at once: forty concurrent takes from one client against a burst
/// of ten get exactly ten tokens (the condition on `tat` is what DynamoDB makes atomic).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_of_one_client_share_one_burst() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let limiter = std::sync::Arc::new(limiter(&moto, &table, 1, 10));
    let takes: Vec<_> = (0..40)
        .map(|_| {
            let limiter = std::sync::Arc::clone(&limiter);
            tokio::spawn(async move { limiter.take("203.0.113.7", NOW_MS).await.unwrap() })
        })
        .collect();
    let mut allowed = 0;
    for take in takes {
        if take.await.unwrap() == Verdict::Allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10);
}

async fn token_call(
    state: &TokenState,
    event: EventBuilder,
    now: i64,
) -> (u16, Value, Option<String>) {
    let response = token_response(state, &event.request(), now)
        .await
        .unwrap_or_else(|error| error.into_response());
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let body = serde_json::from_slice(response.body().as_ref()).unwrap();
    (response.status().as_u16(), body, retry_after)
}

#[tokio::test(flavor = "multi_thread")]
async fn new_guests_are_limited_per_address_and_refreshes_are_not() {
    let moto = MotoServer::start();
    let table = moto.create_channels_table();
    let settings = dev_settings(&[]);
    let own = TokenSettings::from_env(|name: &str| match name {
        "CHANNELS_TABLE" => Some(table.clone()),
        "NEW_GUESTS_PER_MINUTE" => Some("1".to_owned()),
        "NEW_GUESTS_BURST" => Some("3".to_owned()),
        _ => None,
    })
    .unwrap();
    let state = TokenState::build(&settings, &own, moto.dynamodb());
    let from = |ip: &str| EventBuilder::new("POST", "/token").source_ip(ip);

    let mut guest_token = String::new();
    for _ in 0..3 {
        let (status, body, _) = token_call(&state, from("192.0.2.1"), NOW).await;
        assert_eq!(status, 200, "{body}");
        guest_token = body["token"].as_str().unwrap().to_owned();
    }
    let (status, body, retry_after) = token_call(&state, from("192.0.2.1"), NOW).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    assert_eq!(retry_after.as_deref(), Some("60"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("new guests")
    );

    // A guest refreshing its token is not a new guest.
    let (status, body, _) = token_call(&state, from("192.0.2.1").bearer(&guest_token), NOW).await;
    assert_eq!(status, 200, "{body}");
    // Another address is another client; the same one gets a token a minute later.
    assert_eq!(token_call(&state, from("192.0.2.2"), NOW).await.0, 200);
    assert_eq!(token_call(&state, from("192.0.2.1"), NOW + 60).await.0, 200);
    assert_eq!(token_call(&state, from("192.0.2.1"), NOW + 60).await.0, 429);
}

#[tokio::test(flavor = "multi_thread")]
async fn new_chats_are_limited_per_address_before_anything_is_claimed_or_called() {
    let mut h = Harness::start("conversations").await;
    h.twilio.answer_normally().await;
    h.channel.new_chats = RateLimit {
        per_minute: 1,
        burst: 1,
    };
    let state = h.state().await;
    let now = flex_handoff::unix_now();
    let first = h.guest_token("guest-first");
    let (status, body) = call_at(&state, press(&first).source_ip("192.0.2.9"), now).await;
    assert_eq!(status, 201, "{body}");

    let second = h.guest_token("guest-second");
    let (status, body) = call_at(&state, press(&second).source_ip("192.0.2.9"), now).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    assert_eq!(
        state.store.active_slot("guest-second").await.unwrap(),
        Slot::Empty
    );
    assert_eq!(
        requests(h.flex(), "/v2/WebChats").await.len(),
        1,
        "one chat asked for"
    );

    // Reusing the open chat is not a new chat.
    let (status, body) = call_at(&state, press(&first).source_ip("192.0.2.9"), now).await;
    assert_eq!(
        (status, body["reused"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
}

/// Past its maximum age a guest's token opens no chat: only a refresh (which makes a new guest)
/// is left to it.
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_past_its_maximum_age_opens_no_chat() {
    let mut h = Harness::start("conversations").await;
    h.twilio.answer_normally().await;
    h.settings = dev_settings(&[("GUEST_MAX_AGE_DAYS", "30")]);
    let state = h.state().await;
    let now = flex_handoff::unix_now();
    let old = format!(
        "guest-t{}-0123456789abcdef0123456789abcdef",
        now - 31 * 86_400
    );
    let (status, body) = call_at(&state, press(&h.guest_token(&old)), now).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_token")),
        "{body}"
    );
    assert!(requests(h.flex(), "/v2/WebChats").await.is_empty());
}
