//! `GET /availability`: before the press, whether the team is open, how many agents are
//! available and roughly how long the wait is ([`crate::availability`]). Served by
//! `create-channel`, which holds the same queue, schedule and Twilio client to open chats.

use crate::availability::Availability;
use crate::error::ApiError;
use crate::handlers::graphql::schema::QueueAvailability;
use crate::http::json_response;
use crate::identity::{Callers, NewGuests};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

/// Answers `GET /availability` for the caller (a signed-in customer or a guest with a token).
pub async fn availability_response(
    callers: &Callers,
    availability: &Availability,
    request: &Request,
    now_ms: i64,
) -> Result<Response<Body>, ApiError> {
    if request.method() != Method::GET {
        return Err(ApiError::MethodNotAllowed { allowed: "GET" });
    }
    callers.resolve(request, NewGuests::Forbidden, now_ms.div_euclid(1000))?;
    let view = availability.current(now_ms).await?;
    Ok(json_response(
        StatusCode::OK,
        &QueueAvailability::from_view(view)?,
    ))
}
