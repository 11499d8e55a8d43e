//! `POST /token` through its handler, fed API Gateway v2 events, one test per identity branch.

use flex_handoff::handlers::token::{TokenState, token_response};
use flex_handoff::token::{LEEWAY_SECONDS, TokenIssuer};
use flex_handoff_testkit::{EventBuilder, dev_settings};
use futures_util::FutureExt as _;
use lambda_http::{Body, Response};
use secrecy::SecretString;
use serde_json::Value;

/// 2027-01-15T08:00:00Z
const NOW: i64 = 1_800_000_000;

fn guest_state() -> TokenState {
    TokenState::without_limits(&dev_settings(&[]))
}

fn members_only_state() -> TokenState {
    TokenState::without_limits(&dev_settings(&[("ALLOW_GUESTS", "false")]))
}

fn call(state: &TokenState, event: EventBuilder) -> (u16, Value, Response<Body>) {
    // Without the new-guest limit nothing awaits I/O: the future is ready at once.
    let answer = token_response(state, &event.request(), NOW)
        .now_or_never()
        .expect("no I/O without limits");
    let response = match answer {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let body = serde_json::from_slice(response.body().as_ref()).expect("JSON body");
    (response.status().as_u16(), body, response)
}

fn post_token() -> EventBuilder {
    EventBuilder::new("POST", "/token")
}

fn assert_error(state: &TokenState, event: EventBuilder, status: u16, code: &str) {
    let (got_status, body, _) = call(state, event);
    assert_eq!(
        (got_status, body["error"]["code"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[test]
fn new_guest_gets_a_random_identity_and_a_token_for_it() {
    let state = guest_state();
    let (status, body, response) = call(&state, post_token());
    assert_eq!(status, 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let identity = body["identity"].as_str().unwrap();
    // guest-t<made at>-<random>: the age is part of the identity the token signs.
    let made_at = format!("guest-t{NOW}-");
    let random = identity
        .strip_prefix(&made_at)
        .expect("guest-t<now>- prefix");
    assert_eq!(uuid::Uuid::parse_str(random).unwrap().get_version_num(), 4);
    assert_eq!(
        flex_handoff::identity::guest_created_at(identity),
        Some(NOW)
    );
    let verified = state
        .callers
        .issuer()
        .verify(body["token"].as_str().unwrap(), NOW)
        .unwrap();
    assert_eq!(verified.identity, identity);
    assert_eq!(body["ttlSeconds"], 3600);
    assert_eq!(body["expiresAt"], "2027-01-15T09:00:00Z");
    assert_eq!(verified.expires_at, NOW + 3600);

    let (_, second, _) = call(&state, post_token());
    assert_ne!(
        second["identity"], body["identity"],
        "each new guest is someone new"
    );
}

/// A guest made `days` ago.
fn guest_made(days: i64) -> String {
    format!(
        "guest-t{}-0123456789abcdef0123456789abcdef",
        NOW - days * 86_400
    )
}

#[test]
fn guest_refresh_keeps_the_identity_and_extends_expiry() {
    let state = guest_state();
    let returning = guest_made(29);
    let first = state.callers.issuer().mint(&returning, NOW - 3000);
    let (status, body, _) = call(&state, post_token().bearer(&first.jwt));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["identity"], returning.as_str());
    let refreshed = state
        .callers
        .issuer()
        .verify(body["token"].as_str().unwrap(), NOW)
        .unwrap();
    assert_eq!(refreshed.expires_at, NOW + 3600);
    assert!(refreshed.expires_at > first.expires_at);
}

#[test]
fn expired_forged_foreign_or_garbled_bearers_are_401_never_a_new_guest() {
    let state = guest_state();
    let expired = state
        .callers
        .issuer()
        .mint("guest-old", NOW - 3600 - LEEWAY_SECONDS - 1)
        .jwt;
    let settings = dev_settings(&[]);
    let forged = TokenIssuer::new(
        &settings.twilio.account_sid,
        &settings.twilio.api_key_sid,
        &SecretString::from("not-our-secret"),
        &settings.chat_service_sid,
        3600,
    )
    .mint("guest-x", NOW)
    .jwt;
    let foreign = TokenIssuer::new(
        "AC99999999999999999999999999999999",
        &settings.twilio.api_key_sid,
        &settings.twilio.api_key_secret,
        &settings.chat_service_sid,
        3600,
    )
    .mint("guest-x", NOW)
    .jwt;
    for (name, event) in [
        ("expired", post_token().bearer(&expired)),
        ("forged", post_token().bearer(&forged)),
        ("foreign", post_token().bearer(&foreign)),
        ("garbled", post_token().bearer("abc.def.ghi")),
        (
            "basic scheme",
            post_token().header("authorization", "Basic dXNlcjpwYXNz"),
        ),
        (
            "empty bearer",
            post_token().header("authorization", "Bearer "),
        ),
    ] {
        let (status, body, response) = call(&state, event);
        assert_eq!(
            (status, &body["error"]["code"]),
            (401, &Value::from("invalid_token")),
            "{name}"
        );
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
    }
}

#[test]
fn authorizer_subject_is_the_identity_whatever_else_is_sent() {
    for state in [guest_state(), members_only_state()] {
        let (status, body, _) = call(&state, post_token().claims(&[("sub", "auth0|customer-42")]));
        assert_eq!(status, 200);
        assert_eq!(body["identity"], "auth0|customer-42");
        // The Authorization header then carries the IdP's JWT, which is not ours to check.
        let event = post_token()
            .claims(&[("sub", "user-7"), ("name", "Ann")])
            .bearer("the-idp-jwt");
        let (status, body, _) = call(&state, event);
        assert_eq!((status, body["identity"].as_str()), (200, Some("user-7")));
    }
}

#[test]
fn authorizer_subjects_outside_the_identity_alphabet_are_400() {
    let state = members_only_state();
    let long = "a".repeat(129);
    for sub in ["has space", "tab\there", "slash/", "", long.as_str()] {
        assert_error(
            &state,
            post_token().claims(&[("sub", sub)]),
            400,
            "invalid_identity",
        );
    }
    let max = "a".repeat(128);
    let (status, _, _) = call(&state, post_token().claims(&[("sub", &max)]));
    assert_eq!(status, 200);
}

#[test]
fn authorizer_claims_without_a_subject_are_401() {
    assert_error(
        &guest_state(),
        post_token().claims(&[("email", "a@b.c")]),
        401,
        "unauthorized",
    );
}

#[test]
fn without_guests_a_caller_with_no_claims_is_401() {
    let state = members_only_state();
    assert_error(&state, post_token(), 401, "unauthorized");
    let valid_guest_token = state.callers.issuer().mint("guest-1", NOW).jwt;
    assert_error(
        &state,
        post_token().bearer(&valid_guest_token),
        401,
        "unauthorized",
    );
}

#[test]
fn the_browser_never_chooses_the_identity() {
    for state in [guest_state(), members_only_state()] {
        assert_error(
            &state,
            post_token().body(r#"{"identity":"admin"}"#),
            400,
            "identity_not_allowed",
        );
        let event = post_token()
            .claims(&[("sub", "user-7")])
            .body(r#"{"identity":"admin"}"#);
        assert_error(&state, event, 400, "identity_not_allowed");
    }
}

#[test]
fn malformed_bodies_and_methods_are_client_errors() {
    let state = guest_state();
    assert_error(&state, post_token().body("{not json"), 400, "invalid_json");
    assert_error(&state, post_token().body("[1,2]"), 400, "invalid_body");
    assert_error(
        &state,
        post_token().body(r#"{"ttl":99999}"#),
        400,
        "invalid_body",
    );
    assert_error(
        &state,
        EventBuilder::new("GET", "/token"),
        405,
        "method_not_allowed",
    );
    let (status, _, _) = call(&state, post_token().body("{}"));
    assert_eq!(status, 200);
}

#[test]
fn configured_ttl_is_what_the_token_and_response_say() {
    let state = TokenState::without_limits(&dev_settings(&[("TOKEN_TTL_SECONDS", "900")]));
    let (_, body, _) = call(&state, post_token());
    assert_eq!(body["ttlSeconds"], 900);
    assert_eq!(body["expiresAt"], "2027-01-15T08:15:00Z");
    let verified = state
        .callers
        .issuer()
        .verify(body["token"].as_str().unwrap(), NOW)
        .unwrap();
    assert_eq!(verified.expires_at, NOW + 900);
}

/// Guest tokens refresh forever no more: past the maximum age (30 days by default) a refresh
/// makes a new guest, as does one of an identity made before identities carried their age.
#[test]
fn a_refresh_past_the_maximum_age_makes_a_new_guest() {
    // 30 days, the default (local/dev.env keeps its events' guest for ten years).
    let state = TokenState::without_limits(&dev_settings(&[("GUEST_MAX_AGE_DAYS", "30")]));
    for (old, why) in [
        (guest_made(31), "past 30 days"),
        (
            "guest-3f0c6a4e-8d1b-4b7a-9c2e-5a6f7b8c9d0e".to_owned(),
            "no age",
        ),
    ] {
        let token = state.callers.issuer().mint(&old, NOW - 60).jwt;
        let (status, body, _) = call(&state, post_token().bearer(&token));
        assert_eq!(status, 200, "{why}: {body}");
        let identity = body["identity"].as_str().unwrap();
        assert_ne!(identity, old, "{why}");
        assert_eq!(
            flex_handoff::identity::guest_created_at(identity),
            Some(NOW),
            "{why}"
        );
    }
    let shorter = TokenState::without_limits(&dev_settings(&[("GUEST_MAX_AGE_DAYS", "7")]));
    let token = shorter.callers.issuer().mint(&guest_made(8), NOW).jwt;
    let (_, body, _) = call(&shorter, post_token().bearer(&token));
    assert_ne!(body["identity"], guest_made(8).as_str());
}

/// Our key signs tokens for signed-in customers too; without an authorizer only a guest's
/// identity is accepted, so such a token cannot be replayed as that customer here.
#[test]
fn a_token_for_anything_but_a_guest_is_refused() {
    let state = guest_state();
    for identity in ["auth0|customer-42", "alice", "guesty"] {
        let token = state.callers.issuer().mint(identity, NOW).jwt;
        let (status, body, _) = call(&state, post_token().bearer(&token));
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("invalid_token")),
            "{identity}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not a guest"),
            "{body}"
        );
    }
}
