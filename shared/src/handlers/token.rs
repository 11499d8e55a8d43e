//! `POST /token`: a Twilio chat token for the identity the server decides.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::config::{Settings, TokenSettings};
use crate::error::ApiError;
use crate::http::{json_response, parse_json_body, require_post, respond, rfc3339, within_limit};
use crate::identity::{Callers, IdentitySource, NewGuests};
use crate::rate_limit::RateLimiter;

/// What `generate-token` builds once per cold start.
#[derive(Debug)]
pub struct TokenState {
    pub callers: Callers,
    /// New guests per client; `None` only where the token logic is exercised alone.
    pub new_guests: Option<RateLimiter>,
}

impl TokenState {
    pub fn build(
        settings: &Settings,
        own: &TokenSettings,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        Self {
            callers: Callers::from_settings(settings),
            new_guests: Some(RateLimiter::new(
                dynamodb,
                &own.table,
                "new-guest",
                own.new_guests,
            )),
        }
    }

    /// Without the new-guest limit (no table): the token logic alone, for tests and benches.
    pub fn without_limits(settings: &Settings) -> Self {
        Self {
            callers: Callers::from_settings(settings),
            new_guests: None,
        }
    }
}

/// The body accepts no fields today; denying unknown ones makes typos and smuggling visible.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenResponse<'a> {
    token: &'a str,
    identity: &'a str,
    expires_at: String,
    ttl_seconds: u32,
}

/// The Lambda entry point for `POST /token`.
pub async fn handle_token_request(state: &TokenState, request: Request) -> Response<Body> {
    respond(request, |request| async move {
        token_response(state, &request, crate::clock::unix_now()).await
    })
    .await
}

/// Builds the response for a token request at time `now`.
pub async fn token_response(
    state: &TokenState,
    request: &Request,
    now: i64,
) -> Result<Response<Body>, ApiError> {
    require_post(request)?;
    // The body is checked before the caller so a smuggled `identity` is always reported as such.
    let TokenRequest {} = parse_json_body(request)?;
    let caller = state.callers.resolve(request, NewGuests::Allowed, now)?;
    if let (IdentitySource::NewGuest, Some(limiter)) = (caller.source, &state.new_guests) {
        within_limit(limiter, request, "new guests from your network", now).await?;
    }
    let issuer = state.callers.issuer();
    let token = issuer.mint(&caller.identity, now);
    tracing::debug!(identity = %caller.identity, source = ?caller.source, "token issued");
    let expires_at = rfc3339(token.expires_at)?;
    Ok(json_response(
        StatusCode::OK,
        &TokenResponse {
            token: &token.jwt,
            identity: &token.identity,
            expires_at,
            ttl_seconds: issuer.ttl_seconds(),
        },
    ))
}
