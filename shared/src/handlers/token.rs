//! `POST /token`: a Twilio chat token for the identity the server decides.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::error::ApiError;
use crate::http::{json_response, parse_json_body, require_post, respond, rfc3339};
use crate::identity::{Callers, NewGuests};

/// What `generate-token` builds once per cold start.
#[derive(Debug)]
pub struct TokenState {
    pub callers: Callers,
}

impl TokenState {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            callers: Callers::from_settings(settings),
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
        token_response(state, &request, crate::clock::unix_now())
    })
    .await
}

/// Builds the response for a token request at time `now`.
pub fn token_response(
    state: &TokenState,
    request: &Request,
    now: i64,
) -> Result<Response<Body>, ApiError> {
    require_post(request)?;
    // The body is checked before the caller so a smuggled `identity` is always reported as such.
    let TokenRequest {} = parse_json_body(request)?;
    let caller = state.callers.resolve(request, NewGuests::Allowed, now)?;
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
