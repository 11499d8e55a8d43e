//! Our tokens against Twilio's own Python library (PyPI `twilio`, pinned in tools/requirements.txt),
//! both ways: it accepts and decodes what we mint, and we verify what it mints.

use std::process::Command;

use flex_handoff::testing::{dev_settings, workspace_root};
use flex_handoff::unix_now;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// `python3` on PATH must have the pinned `twilio`: `make test` puts `.venv/bin` first.
fn twilio_helper(args: &[&str]) -> std::process::Output {
    let script = workspace_root().join("shared/tests/support/twilio_helper.py");
    Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs (use `make test`, which installs the pinned twilio library)")
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "twilio helper failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn twilio_library_accepts_and_decodes_our_token_with_the_same_claims() {
    let settings = dev_settings(&[]);
    let issuer = settings.token_issuer();
    let now = unix_now();
    let token = issuer.mint("guest-crosscheck", now);

    let decoded: Value = serde_json::from_str(&stdout(&twilio_helper(&[
        "decode",
        settings.twilio.api_key_secret.expose_secret(),
        &token.jwt,
    ])))
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
    let token = settings.token_issuer().mint("guest-crosscheck", unix_now());
    let output = twilio_helper(&["decode", "some-other-secret", &token.jwt]);
    assert!(!output.status.success(), "a wrong key must not verify");
}

#[test]
fn we_verify_what_the_twilio_library_mints() {
    let settings = dev_settings(&[]);
    let jwt = stdout(&twilio_helper(&[
        "mint",
        &settings.twilio.account_sid,
        &settings.twilio.api_key_sid,
        settings.twilio.api_key_secret.expose_secret(),
        &settings.chat_service_sid,
        "auth0|customer-42",
        "600",
    ]));
    let verified = settings.token_issuer().verify(&jwt, unix_now()).unwrap();
    assert_eq!(verified.identity, "auth0|customer-42");
    assert!((verified.expires_at - unix_now() - 600).abs() <= 5);
}

#[test]
fn we_reject_what_the_twilio_library_mints_with_another_key() {
    let settings = dev_settings(&[]);
    let jwt = stdout(&twilio_helper(&[
        "mint",
        &settings.twilio.account_sid,
        &settings.twilio.api_key_sid,
        "a-different-api-key-secret",
        &settings.chat_service_sid,
        "guest-1",
        "600",
    ]));
    let ours = settings.token_issuer();
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
