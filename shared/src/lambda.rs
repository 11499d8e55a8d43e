//! How our HTTP functions run: lambda_http's runtime, with each API Gateway event made safe to
//! convert first.
//!
//! lambda_http 1.3 builds the request's URI from the event with `expect`/`unwrap`
//! (`into_api_gateway_v2_request`, `build_request_uri`), and aws_lambda_events decodes a base64
//! body with `expect`. So a `rawQueryString` holding `"`, `<`, `>` or DEL, a path or `Host` the
//! URI parser refuses, or a body flagged base64 that is not, panics before any handler runs;
//! with the release profile's `panic = "abort"` that kills the instance, unauthenticated, on
//! every route (aws-lambda-rust-runtime#461, #489, #515). [`make_safe`] re-encodes what is not
//! valid in a URI (a valid query or path is left byte for byte as it was), drops a `Host` or
//! `X-Forwarded-Proto` that cannot be part of a URL, and turns an undecodable base64 body into
//! the text it is, which every handler then refuses with a 400. Chosen over `panic = "unwind"`
//! by measurement (BENCHMARKS.md, "Hostile events"): unwinding grows every binary and still
//! answers a caller's bad bytes with a 502, where this answers them as any other request.

use std::future::Future;

use base64::Engine as _;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::http::{HeaderName, Uri, header};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Body, Error, LambdaEvent, Request, Response, Service, service_fn};

/// Runs `handler` for every invocation until the runtime stops, each event made safe first.
///
/// A panic ends the process in every build, as the release profile's `panic = "abort"` does,
/// so the tests, which run debug binaries, see a panic as the dead instance it is on Lambda
/// rather than as the runtime's caught error.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send,
{
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::abort();
    }));
    let mut adapter = Adapter::from(service_fn(move |request: Request| {
        let answer = handler(request);
        async move { Ok::<_, Error>(answer.await) }
    }));
    lambda_http::lambda_runtime::run(service_fn(move |mut event: LambdaEvent<LambdaRequest>| {
        make_safe(&mut event.payload);
        adapter.call(event)
    }))
    .await
}

/// The request an API Gateway event's JSON becomes, exactly as [`run_http`] converts it (for
/// tests and local tools that feed events without the runtime).
pub fn request_from_event(json: &str) -> Result<Request, serde_json::Error> {
    let mut event: LambdaRequest = serde_json::from_str(json)?;
    make_safe(&mut event);
    Ok(event.into())
}

/// Rewrites the parts of an event lambda_http would panic on; see the module docs.
pub fn make_safe(event: &mut LambdaRequest) {
    #[allow(irrefutable_let_patterns)] // one event kind is enabled today; others pass as they are
    if let LambdaRequest::ApiGatewayV2(event) = event {
        make_v2_safe(event);
    }
}

fn make_v2_safe(event: &mut ApiGatewayV2httpRequest) {
    if let Some(path) = &mut event.raw_path {
        let encoded = encode_invalid(path, is_path_byte);
        *path = if encoded.starts_with('/') {
            encoded
        } else {
            format!("/{encoded}")
        };
    }
    if let Some(stage) = &mut event.request_context.stage {
        *stage = encode_invalid(stage, |byte| is_path_byte(byte) && byte != b'/');
    }
    if let Some(query) = &mut event.raw_query_string {
        *query = encode_invalid(query, is_query_byte);
    }
    let proto = HeaderName::from_static("x-forwarded-proto");
    if event
        .headers
        .get(&proto)
        .is_some_and(|value| !matches!(value.as_bytes(), b"http" | b"https"))
    {
        event.headers.remove(&proto);
    }
    if event
        .headers
        .get(header::HOST)
        .is_some_and(|host| !host.to_str().is_ok_and(is_url_host))
    {
        event.headers.remove(header::HOST);
    }
    if event
        .request_context
        .domain_name
        .as_deref()
        .is_some_and(|host| !is_url_host(host))
    {
        event.request_context.domain_name = None;
    }
    if event.is_base64_encoded
        && let Some(body) = &event.body
        && base64::engine::general_purpose::STANDARD
            .decode(body)
            .is_err()
    {
        event.is_base64_encoded = false;
    }
}

/// `text` with every byte `keep` refuses percent-encoded; a `%` already starting an escape is
/// kept, so a valid query or path comes back unchanged.
fn encode_invalid(text: &str, keep: fn(u8) -> bool) -> String {
    let bytes = text.as_bytes();
    if bytes
        .iter()
        .enumerate()
        .all(|(at, &byte)| keep(byte) || starts_escape(bytes, at))
    {
        return text.to_owned();
    }
    let mut encoded = String::with_capacity(text.len() + 16);
    for (at, &byte) in bytes.iter().enumerate() {
        if keep(byte) || starts_escape(bytes, at) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn starts_escape(bytes: &[u8], at: usize) -> bool {
    bytes[at] == b'%'
        && bytes.get(at + 1).is_some_and(u8::is_ascii_hexdigit)
        && bytes.get(at + 2).is_some_and(u8::is_ascii_hexdigit)
}

/// RFC 3986 `pchar` and `/`, less `%` (escapes are judged by [`starts_escape`]).
fn is_path_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&byte)
}

/// RFC 3986 `query`: `pchar`, `/` and `?`.
fn is_query_byte(byte: u8) -> bool {
    is_path_byte(byte) || byte == b'?'
}

/// A host[:port] lambda_http can put in a URL: a DNS name or IPv4 address (an IPv6 literal in
/// brackets), an optional port, nothing else.
fn is_url_host(host: &str) -> bool {
    let candidate = format!("https://{host}/");
    !host.is_empty()
        && host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-.:[]".contains(&byte))
        && url::Url::parse(&candidate).is_ok_and(|url| url.host().is_some())
        && candidate.parse::<Uri>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_queries_and_paths_pass_unchanged() {
        for query in ["", "a=1&b=2", "q=%22x%22", "x=a%2Fb?c", "k=v;w=z:@/"] {
            assert_eq!(encode_invalid(query, is_query_byte), query);
        }
        assert_eq!(encode_invalid("/token", is_path_byte), "/token");
    }

    #[test]
    fn invalid_bytes_are_escaped_and_stray_percents_too() {
        assert_eq!(encode_invalid(r#"a="b""#, is_query_byte), "a=%22b%22");
        assert_eq!(encode_invalid("<\u{7f}>", is_query_byte), "%3C%7F%3E");
        assert_eq!(encode_invalid("50%", is_query_byte), "50%25");
        assert_eq!(encode_invalid("%zz", is_query_byte), "%25zz");
        assert_eq!(encode_invalid("é #", is_query_byte), "%C3%A9%20%23");
    }

    #[test]
    fn hosts_are_names_with_an_optional_port() {
        for host in [
            "example.com",
            "abc.execute-api.eu-west-1.amazonaws.com",
            "127.0.0.1:3000",
        ] {
            assert!(is_url_host(host), "{host}");
        }
        for host in [
            "",
            "a b",
            "a@b",
            "a:99999",
            "[zz]",
            "ex\"ample",
            "a/b",
            "é.com",
        ] {
            assert!(!is_url_host(host), "{host}");
        }
    }
}
