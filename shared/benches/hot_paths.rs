//! The per-request CPU work of the functions: token mint and verify, the webhook signature check,
//! and parsing an API Gateway event through to the caller's identity.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flex_handoff::identity::{Callers, NewGuests};
use flex_handoff::signature::{SignedBody, WebhookVerifier};
use flex_handoff::token::TokenIssuer;
use flex_handoff_testkit::{dev_settings, event_file};
use secrecy::SecretString;

fn tokens(c: &mut Criterion) {
    let issuer = TokenIssuer::from_settings(&dev_settings(&[]));
    let now = flex_handoff::unix_now();
    let jwt = issuer
        .mint("guest-t1795000000-3f0c6a4e8d1b4b7a9c2e5a6f7b8c9d0e", now)
        .jwt;
    let mut group = c.benchmark_group("token");
    group.throughput(Throughput::Elements(1));
    group.bench_function("mint", |b| {
        b.iter(|| {
            issuer.mint(
                black_box("guest-t1795000000-3f0c6a4e8d1b4b7a9c2e5a6f7b8c9d0e"),
                now,
            )
        })
    });
    group.bench_function("verify", |b| {
        b.iter(|| issuer.verify(black_box(&jwt), now).unwrap())
    });
    group.finish();
}

fn webhook_signature(c: &mut Criterion) {
    let url = "https://abc123.execute-api.eu-west-1.amazonaws.com/twilio/webhook";
    let token = SecretString::from("0f1e2d3c4b5a69788796a5b4c3d2e1f0");
    let verifier = WebhookVerifier::new(&token, url, None);
    let params: Vec<(String, String)> = [
        ("EventType", "onChannelUpdated"),
        ("ChannelSid", "CH0000000000000000000000000000cafe"),
        ("ServiceSid", "IS33333333333333333333333333333333"),
        (
            "Attributes",
            r#"{"status":"INACTIVE","long_lived":false,"channel_type":"web","from":"Ada"}"#,
        ),
        ("AccountSid", "AC11111111111111111111111111111111"),
        ("Source", "API"),
        ("DateUpdated", "2026-11-23T20:05:00.000Z"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    // The signature Twilio would send, computed with our own signer only to have a valid input;
    // its correctness is the cross-check tests' business.
    let signature = {
        use base64::Engine as _;
        use hmac::{Hmac, KeyInit, Mac};
        let mut sorted = params.clone();
        sorted.sort();
        let mut mac =
            Hmac::<sha1::Sha1>::new_from_slice(b"0f1e2d3c4b5a69788796a5b4c3d2e1f0").unwrap();
        mac.update(url.as_bytes());
        for (k, v) in &sorted {
            mac.update(k.as_bytes());
            mac.update(v.as_bytes());
        }
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    let mut group = c.benchmark_group("webhook");
    group.throughput(Throughput::Elements(1));
    group.bench_function("signature_check", |b| {
        b.iter(|| {
            verifier
                .verify(
                    black_box(Some(&signature)),
                    "",
                    SignedBody::Form(black_box(&params)),
                )
                .unwrap()
        })
    });
    group.finish();
}

fn request_identity(c: &mut Criterion) {
    let settings = dev_settings(&[]);
    let callers = Callers::from_settings(&settings);
    let event = event_file("token-refresh.json");
    let now = flex_handoff::unix_now();
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_and_resolve_identity", |b| {
        b.iter(|| {
            let request = lambda_http::request::from_str(black_box(&event)).unwrap();
            callers.resolve(&request, NewGuests::Allowed, now).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, tokens, webhook_signature, request_identity);
criterion_main!(benches);
