//! Request and response plumbing shared by every route: JSON bodies, no-store responses, error
//! responses (`{"error":{"code","message"}}`, from [`ApiError`]'s table) and the one log line per
//! request.

use std::future::Future;
use std::time::Instant;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Message};
use crate::rate_limit::{RateLimiter, Verdict, client_key};

/// Our bodies are a few small fields; anything larger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A JSON response that no browser or proxy may cache: bodies carry tokens and chat ids.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let json = serde_json::to_string(body).expect("response bodies serialize");
    let mut response = Response::new(Body::Text(json));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    /// `outside_hours` only: when the team opens again (RFC 3339), `null` when unknown.
    #[serde(rename = "nextOpenAt", skip_serializing_if = "Option::is_none")]
    next_open_at: Option<Option<&'a str>>,
}

impl ApiError {
    /// The error response: `{"error":{"code","message"}}` with [`Self::caller_message`].
    pub fn into_response(self) -> Response<Body> {
        let message = self.caller_message();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: &message,
                next_open_at: match &self {
                    ApiError::OutsideHours { next_open_at, .. } => Some(next_open_at.as_deref()),
                    _ => None,
                },
            },
        };
        let mut response = json_response(self.status(), &body);
        self.add_headers(&mut response);
        response
    }

    /// What the caller is told: a caller's mistake says what is wrong; a server-side failure is
    /// logged in full here and answered with its public message only.
    pub fn caller_message(&self) -> String {
        match self.answer().message {
            Message::Public(public) => {
                tracing::error!(error = %self, "request failed");
                public.to_owned()
            }
            Message::Detail => self.to_string(),
        }
    }

    /// The headers HTTP asks of some errors: the auth scheme of a 401, the methods of a 405.
    pub fn add_headers(&self, response: &mut Response<Body>) {
        let headers = response.headers_mut();
        match self {
            ApiError::InvalidToken(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allowed } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allowed));
            }
            ApiError::RateLimited {
                retry_after_seconds,
                ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
            }
            _ => {}
        }
    }
}

/// The address API Gateway saw the request come from (`requestContext.http.sourceIp`).
pub fn source_ip(request: &Request) -> Option<&str> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
        #[allow(unreachable_patterns)] // other event kinds are not enabled today
        _ => None,
    }
}

/// Takes one of `limiter`'s tokens for the request's client at `now`, or answers 429
/// `rate_limited` with `Retry-After`; `what` names what is limited in the message.
pub async fn within_limit(
    limiter: &RateLimiter,
    request: &Request,
    what: &'static str,
    now: i64,
) -> Result<(), ApiError> {
    let client = client_key(source_ip(request));
    match limiter.take(&client, now.saturating_mul(1000)).await? {
        Verdict::Allowed => Ok(()),
        Verdict::Limited {
            retry_after_seconds,
        } => {
            tracing::warn!(
                limit = limiter.name(),
                client,
                retry_after_seconds,
                "rate limited"
            );
            Err(ApiError::RateLimited {
                what,
                retry_after_seconds,
            })
        }
    }
}

/// Every route is a POST; anything else is 405 with `Allow: POST`.
pub fn require_post(request: &Request) -> Result<(), ApiError> {
    if request.method() == Method::POST {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed { allowed: "POST" })
    }
}

/// A Unix time as the RFC 3339 timestamp the API's JSON carries.
pub fn rfc3339(unix_seconds: i64) -> Result<String, ApiError> {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .ok_or_else(|| ApiError::Internal(format!("time {unix_seconds} out of range")))
}

/// Parses an empty body or a JSON object into `T`, which should deny unknown fields.
///
/// A body naming `identity` gets its own error: it is the one field a client might plausibly try
/// to smuggle, and it must be told plainly that the server decides.
pub fn parse_json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    parse_json_body_within(request, MAX_BODY_BYTES)
}

/// [`parse_json_body`] for a route whose bodies may be larger than [`MAX_BODY_BYTES`].
pub fn parse_json_body_within<T: DeserializeOwned>(
    request: &Request,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes = body_within(request, limit)?;
    let value = if bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidJson(e.to_string()))?
    };
    let serde_json::Value::Object(fields) = &value else {
        return Err(ApiError::InvalidBody(
            "the request body must be a JSON object".into(),
        ));
    };
    if fields.contains_key("identity") {
        return Err(ApiError::IdentityNotAllowed);
    }
    serde_json::from_value(value).map_err(|e| ApiError::InvalidBody(e.to_string()))
}

/// The request's body, refused with 413 before anything reads it when it is over `limit` bytes.
pub fn body_within(request: &Request, limit: usize) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > limit {
        return Err(ApiError::BodyTooLarge { limit });
    }
    Ok(bytes)
}

/// Runs a route handler, turns its error into the standard error response, and writes the one
/// log line per request (request id, route, status, latency, error code).
pub async fn respond<F, Fut>(request: Request, handler: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    logged(request, |request| async move {
        match handler(request).await {
            Ok(response) => (response, None),
            Err(error) => {
                let code = error.code().to_owned();
                (error.into_response(), Some(code))
            }
        }
    })
    .await
}

/// Runs a handler that renders its own errors and names their code, and writes the one log line
/// per request: [`respond`] for the REST routes, and GraphQL, whose errors have their own shape.
pub async fn logged<F, Fut>(request: Request, handler: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = (Response<Body>, Option<String>)>,
{
    let started = Instant::now();
    let request_id = request
        .lambda_context_ref()
        .map(|context| context.request_id.clone())
        .unwrap_or_default();
    let route = route_of(&request);
    let (response, error_code) = handler(request).await;
    tracing::info!(
        request_id,
        route,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        error_code = error_code.as_deref(),
        "request"
    );
    response
}

fn route_of(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .route_key
            .clone()
            .unwrap_or_else(|| format!("{} {}", request.method(), request.uri().path())),
        _ => format!("{} {}", request.method(), request.uri().path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Example {
        #[serde(default)]
        name: Option<String>,
    }

    fn request_with_body(body: &str) -> Request {
        let mut request = Request::new(Body::Text(body.to_owned()));
        *request.method_mut() = Method::POST;
        request
    }

    #[test]
    fn empty_and_whitespace_bodies_are_an_empty_object() {
        for body in ["", "  \n"] {
            let parsed: Example = parse_json_body(&request_with_body(body)).unwrap();
            assert_eq!(parsed, Example { name: None });
        }
    }

    #[test]
    fn body_errors_are_specific() {
        let cases = [
            ("{", "invalid_json"),
            ("[]", "invalid_body"),
            ("\"x\"", "invalid_body"),
            (r#"{"identity":"alice"}"#, "identity_not_allowed"),
            (r#"{"nmae":"x"}"#, "invalid_body"),
            (r#"{"name":5}"#, "invalid_body"),
        ];
        for (body, code) in cases {
            let error = parse_json_body::<Example>(&request_with_body(body)).unwrap_err();
            assert_eq!(error.code(), code, "{body}");
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn oversized_bodies_are_refused_before_parsing() {
        let body = format!(r#"{{"name":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        let error = parse_json_body::<Example>(&request_with_body(&body)).unwrap_err();
        assert_eq!(error.status(), 413);
    }

    #[test]
    fn json_responses_are_not_cacheable() {
        let response = json_response(StatusCode::OK, &serde_json::json!({"a": 1}));
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }

    fn body_json(response: &Response<Body>) -> serde_json::Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn client_errors_carry_their_message() {
        let response = ApiError::IdentityNotAllowed.into_response();
        assert_eq!(response.status(), 400);
        let body = body_json(&response);
        assert_eq!(body["error"]["code"], "identity_not_allowed");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("server decides")
        );
    }

    #[test]
    fn server_errors_hide_their_detail() {
        let response = ApiError::Internal("db password is hunter2".into()).into_response();
        assert_eq!(response.status(), 500);
        assert_eq!(
            body_json(&response),
            serde_json::json!({"error": {"code": "internal", "message": "internal error"}})
        );
    }

    #[test]
    fn auth_errors_name_the_scheme() {
        let response = ApiError::InvalidToken(crate::token::TokenError::Expired).into_response();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
        assert_eq!(
            body_json(&response)["error"]["message"],
            "the token has expired"
        );
    }
}
