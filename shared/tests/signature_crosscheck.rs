//! `X-Twilio-Signature` checks against Twilio's own Python library (`RequestValidator`):
//! signatures it computes are accepted, and one flipped character in the URL, a parameter or the
//! signature is rejected (by us, and by it, so the flips are real).

use flex_handoff::signature::{SignatureError, SignedBody, WebhookVerifier};
use flex_handoff_testkit::{twilio_form_signature, twilio_helper};
use secrecy::SecretString;

const AUTH_TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const PUBLIC_URL: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/twilio/webhook";

fn verifier(public_url: &str) -> WebhookVerifier {
    WebhookVerifier::new(&SecretString::from(AUTH_TOKEN), public_url, None)
}

fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn twilio_accepts(url: &str, params: &[(&str, &str)], signature: &str) -> bool {
    let pairs = serde_json::to_string(params).unwrap();
    twilio_helper(&["validate", AUTH_TOKEN, url, &pairs, signature]).unwrap() == "true"
}

fn legacy_inactive() -> Vec<(&'static str, &'static str)> {
    vec![
        ("EventType", "onChannelUpdated"),
        ("ChannelSid", "CH00000000000000000000000000000001"),
        (
            "Attributes",
            r#"{"status":"INACTIVE","from":"Zoë & \"Ada\"","long_lived":false}"#,
        ),
        ("DateUpdated", "2026-11-23T20:00:00.000Z"),
        ("UniqueName", ""),
        ("AccountSid", "AC11111111111111111111111111111111"),
    ]
}

#[test]
fn signatures_computed_by_twilios_library_are_accepted() {
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        (PUBLIC_URL.to_owned(), legacy_inactive()),
        (
            PUBLIC_URL.to_owned(),
            vec![
                ("EventType", "onConversationStateUpdated"),
                ("ConversationSid", "CH00000000000000000000000000000002"),
                ("StateFrom", "active"),
                ("StateTo", "closed"),
                ("Reason", "API"),
            ],
        ),
        // Repeated keys and a query string.
        (
            format!("{PUBLIC_URL}?source=flex&b=2"),
            vec![
                ("Filters", "onMessageSent"),
                ("Filters", "onChannelUpdated"),
                ("A", "1"),
            ],
        ),
    ];
    for (url, params) in cases {
        let signature = twilio_form_signature(AUTH_TOKEN, &url, &params);
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let form = owned(&params);
        assert_eq!(
            verifier(PUBLIC_URL).verify(Some(&signature), query, SignedBody::Form(&form)),
            Ok(()),
            "{url} {params:?}"
        );
    }
}

#[test]
fn one_flipped_character_in_url_parameter_or_signature_is_rejected() {
    let params = legacy_inactive();
    let signature = twilio_form_signature(AUTH_TOKEN, PUBLIC_URL, &params);
    let form = owned(&params);
    assert_eq!(
        verifier(PUBLIC_URL).verify(Some(&signature), "", SignedBody::Form(&form)),
        Ok(())
    );

    // The URL: Twilio signed another path than the one we are configured with.
    let other_url = PUBLIC_URL.replace("webhook", "webhooK");
    assert!(!twilio_accepts(&other_url, &params, &signature));
    assert_eq!(
        verifier(&other_url).verify(Some(&signature), "", SignedBody::Form(&form)),
        Err(SignatureError::Mismatch)
    );
    // A query string Twilio did not sign.
    assert_eq!(
        verifier(PUBLIC_URL).verify(Some(&signature), "x=1", SignedBody::Form(&form)),
        Err(SignatureError::Mismatch)
    );

    // A parameter's value and a parameter's name.
    let mut flipped = params.clone();
    flipped[2].1 = r#"{"status":"INACTIVE","from":"Zoë & \"Ada\"","long_lived":true}"#;
    assert!(!twilio_accepts(PUBLIC_URL, &flipped, &signature));
    assert_eq!(
        verifier(PUBLIC_URL).verify(Some(&signature), "", SignedBody::Form(&owned(&flipped))),
        Err(SignatureError::Mismatch)
    );
    let mut renamed = params.clone();
    renamed[1].0 = "ChannelSiD";
    assert_eq!(
        verifier(PUBLIC_URL).verify(Some(&signature), "", SignedBody::Form(&owned(&renamed))),
        Err(SignatureError::Mismatch)
    );

    // The signature itself, one character at a time at a few positions.
    for position in [0, 7, signature.len() - 2] {
        let mut chars: Vec<char> = signature.chars().collect();
        chars[position] = if chars[position] == 'A' { 'B' } else { 'A' };
        let bad: String = chars.into_iter().collect();
        assert!(!twilio_accepts(PUBLIC_URL, &params, &bad));
        assert_eq!(
            verifier(PUBLIC_URL).verify(Some(&bad), "", SignedBody::Form(&form)),
            Err(SignatureError::Mismatch),
            "position {position}"
        );
    }
}

#[test]
fn the_key_is_the_auth_token_not_the_api_key_secret() {
    let params = legacy_inactive();
    let by_api_key = twilio_form_signature("some-api-key-secret", PUBLIC_URL, &params);
    assert_eq!(
        verifier(PUBLIC_URL).verify(Some(&by_api_key), "", SignedBody::Form(&owned(&params))),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn the_default_port_may_be_spelled_either_way() {
    let params = legacy_inactive();
    let form = owned(&params);
    let with_port = PUBLIC_URL.replace(".com/", ".com:443/");
    let signed_with_port = twilio_form_signature(AUTH_TOKEN, &with_port, &params);
    let signed_without = twilio_form_signature(AUTH_TOKEN, PUBLIC_URL, &params);
    for configured in [PUBLIC_URL, with_port.as_str()] {
        for signature in [&signed_with_port, &signed_without] {
            assert_eq!(
                verifier(configured).verify(Some(signature), "", SignedBody::Form(&form)),
                Ok(()),
                "configured {configured}"
            );
        }
    }
    let other_port = twilio_form_signature(
        AUTH_TOKEN,
        &PUBLIC_URL.replace(".com/", ".com:8443/"),
        &params,
    );
    assert_eq!(
        verifier(PUBLIC_URL).verify(Some(&other_port), "", SignedBody::Form(&form)),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn json_bodies_are_vouched_for_by_body_sha256() {
    let body = r#"{"EventType":"onConversationStateUpdated","ConversationSid":"CH00000000000000000000000000000002","StateTo":"closed"}"#;
    let signed: serde_json::Value =
        serde_json::from_str(&twilio_helper(&["sign-json", AUTH_TOKEN, PUBLIC_URL, body]).unwrap())
            .unwrap();
    let url = signed["url"].as_str().unwrap();
    let signature = signed["signature"].as_str().unwrap();
    let query = url.split_once('?').unwrap().1;
    assert!(query.starts_with("bodySHA256="));

    let ours = verifier(PUBLIC_URL);
    assert_eq!(
        ours.verify(Some(signature), query, SignedBody::Json(body.as_bytes())),
        Ok(())
    );
    let tampered = body.replace("closed", "closeD");
    assert_eq!(
        ours.verify(
            Some(signature),
            query,
            SignedBody::Json(tampered.as_bytes())
        ),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        ours.verify(Some(signature), "", SignedBody::Json(body.as_bytes())),
        Err(SignatureError::Mismatch),
        "a JSON body without bodySHA256 is not vouched for"
    );
}

/// The chat-end webhook is registered with Twilio's connection overrides as the URL's fragment
/// (`#rc=3&rp=all`). The fragment never travels in the request, and Twilio's documents do not say
/// whether it signs it: a signature Twilio's library computes over the URL with it, or without
/// it, is accepted; one over a URL with other overrides is not.
#[test]
fn signatures_over_the_registered_url_with_or_without_its_overrides_are_accepted() {
    let overrides = "rc=3&rp=all";
    let with_overrides =
        WebhookVerifier::new(&SecretString::from(AUTH_TOKEN), PUBLIC_URL, Some(overrides));
    let params = legacy_inactive();
    let form = owned(&params);
    for url in [format!("{PUBLIC_URL}#{overrides}"), PUBLIC_URL.to_owned()] {
        let signature = twilio_form_signature(AUTH_TOKEN, &url, &params);
        assert!(twilio_accepts(&url, &params, &signature), "{url}");
        assert_eq!(
            with_overrides.verify(Some(&signature), "", SignedBody::Form(&form)),
            Ok(()),
            "{url}"
        );
    }
    let other = format!("{PUBLIC_URL}#rc=5&rp=all");
    let signature = twilio_form_signature(AUTH_TOKEN, &other, &params);
    assert!(twilio_accepts(&other, &params, &signature));
    assert_eq!(
        with_overrides.verify(Some(&signature), "", SignedBody::Form(&form)),
        Err(SignatureError::Mismatch)
    );
    // Without overrides configured, a fragment-signed request is not ours.
    let with_fragment = format!("{PUBLIC_URL}#{overrides}");
    let signature = twilio_form_signature(AUTH_TOKEN, &with_fragment, &params);
    assert_eq!(
        verifier(PUBLIC_URL).verify(Some(&signature), "", SignedBody::Form(&form)),
        Err(SignatureError::Mismatch)
    );
}
