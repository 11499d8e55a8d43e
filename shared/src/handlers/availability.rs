//! `GET /availability`: before the press, whether the team is open, how many agents are
//! available and roughly how long the wait is ([`crate::availability`]). Served by
//! `create-channel`, which holds the same queue, schedule and Twilio client to open chats.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::availability::{Availability, AvailabilityView, ClosedReason, WaitRange};
use crate::error::ApiError;
use crate::http::{json_response, rfc3339};
use crate::identity::{Callers, NewGuests};

/// The JSON answer, as openapi.yaml's `Availability`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityBody {
    pub open: bool,
    pub closed_reason: Option<ClosedReason>,
    pub message: Option<String>,
    pub next_open_at: Option<String>,
    pub time_zone: String,
    pub agents_available: Option<u64>,
    pub wait_estimate_seconds: Option<WaitRange>,
    pub queue_length: Option<u64>,
    pub as_of: Option<String>,
}

impl AvailabilityBody {
    pub fn from_view(view: AvailabilityView) -> Result<Self, ApiError> {
        Ok(Self {
            open: view.open,
            closed_reason: view.closed_reason,
            message: view.message,
            next_open_at: view.next_open_at.map(rfc3339).transpose()?,
            time_zone: view.time_zone,
            agents_available: view.agents_available,
            wait_estimate_seconds: view.wait_estimate_seconds,
            queue_length: view.queue_length,
            as_of: view
                .as_of_ms
                .map(|ms| rfc3339(ms.div_euclid(1000)))
                .transpose()?,
        })
    }
}

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
        &AvailabilityBody::from_view(view)?,
    ))
}
