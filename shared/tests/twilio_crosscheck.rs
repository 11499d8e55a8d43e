//! Our tokens against Twilio's own Python library (PyPI `twilio`, pinned in tools/requirements.txt),
//! both ways: it accepts and decodes what we mint, and we verify what it mints.

use flex_handoff::token::TokenIssuer;
use flex_handoff::unix_now;
use flex_handoff_testkit::{dev_settings, twilio_helper};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

#[test]
fn twilio_library_accepts_and_decodes_our_token_with_the_same_claims() {
    let settings = dev_settings(&[]);
    let issuer = TokenIssuer::from_settings(&settings);
    let now = unix_now();
    let token = issuer.mint("guest-crosscheck", now);

    let decoded: Value = serde_json::from_str(
        &twilio_helper(&[
            "decode",
            settings.twilio.api_key_secret.expose_secret(),
            &token.jwt,
        ])
        .unwrap(),
    )
    .unwrap();

    assert_eq!(
        decoded["headers"],
        json!({"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"})
    );
    let key = &settings.twilio.api_key_sid;
    assert_eq!(
        decoded["payload"],
        json!({
            "jti": format!("{key}-{now}"),
            "iss": key,
            "sub": settings.twilio.account_sid,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "grants": {"identity": "guest-crosscheck", "chat": {"service_sid": settings.chat_service_sid}}
        })
    );
}

#[test]
fn twilio_library_rejects_our_token_under_another_secret() {
    let settings = dev_settings(&[]);
    let token = TokenIssuer::from_settings(&settings).mint("guest-crosscheck", unix_now());
    let rejected = twilio_helper(&["decode", "some-other-secret", &token.jwt]).unwrap_err();
    assert!(
        rejected.contains("rejected"),
        "a wrong key must not verify: {rejected}"
    );
}

#[test]
fn we_verify_what_the_twilio_library_mints() {
    let settings = dev_settings(&[]);
    let jwt = twilio_helper(&[
        "mint",
        &settings.twilio.account_sid,
        &settings.twilio.api_key_sid,
        settings.twilio.api_key_secret.expose_secret(),
        &settings.chat_service_sid,
        "auth0|customer-42",
        "600",
    ])
    .unwrap();
    let verified = TokenIssuer::from_settings(&settings)
        .verify(&jwt, unix_now())
        .unwrap();
    assert_eq!(verified.identity, "auth0|customer-42");
    assert!((verified.expires_at - unix_now() - 600).abs() <= 5);
}

#[test]
fn we_reject_what_the_twilio_library_mints_with_another_key() {
    let settings = dev_settings(&[]);
    let jwt = twilio_helper(&[
        "mint",
        &settings.twilio.account_sid,
        &settings.twilio.api_key_sid,
        "a-different-api-key-secret",
        &settings.chat_service_sid,
        "guest-1",
        "600",
    ])
    .unwrap();
    let ours = TokenIssuer::from_settings(&settings);
    assert!(ours.verify(&jwt, unix_now()).is_err());
    // Sanity: the same library token verifies once we hold the key it was signed with.
    let theirs = flex_handoff::token::TokenIssuer::new(
        &settings.twilio.account_sid,
        &settings.twilio.api_key_sid,
        &SecretString::from("a-different-api-key-secret"),
        &settings.chat_service_sid,
        600,
    );
    assert!(theirs.verify(&jwt, unix_now()).is_ok());
}
