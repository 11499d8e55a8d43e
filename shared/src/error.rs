//! The one place where failures become HTTP statuses and `{"error":{"code","message"}}` bodies.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::token::TokenError;
use crate::twilio::TwilioError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the request must not name an identity: the server decides who the caller is")]
    IdentityNotAllowed,
    #[error("the authenticated subject is not a valid chat identity")]
    InvalidIdentity,
    #[error("only {allowed} is allowed on this route")]
    MethodNotAllowed { allowed: &'static str },
    #[error("{0}")]
    InvalidToken(TokenError),
    #[error("authentication is required")]
    Unauthorized,
    #[error("the X-Twilio-Signature header is missing")]
    MissingSignature,
    #[error("the X-Twilio-Signature header does not match the request")]
    InvalidSignature,
    #[error("the webhook is malformed: {0}")]
    InvalidWebhook(String),
    #[error("{0}")]
    Upstream(#[from] TwilioError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the Flex Flow is misconfigured: {0}")]
    FlexFlowMisconfigured(String),
    #[error("another request is still opening this customer's chat")]
    ChatBeingOpened,
    /// Anything that is our fault. The detail is logged, never sent to the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::InvalidBody(_)
            | ApiError::IdentityNotAllowed
            | ApiError::InvalidIdentity
            | ApiError::MissingSignature
            | ApiError::InvalidWebhook(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidSignature => StatusCode::FORBIDDEN,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InvalidToken(_) | ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Upstream(TwilioError::Rejected { .. } | TwilioError::BadResponse { .. }) => {
                StatusCode::BAD_GATEWAY
            }
            ApiError::Upstream(TwilioError::Unavailable { .. })
            | ApiError::Store(_)
            | ApiError::FlexFlowMisconfigured(_)
            | ApiError::ChatBeingOpened => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Upstream(TwilioError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable, machine-readable code; clients branch on this, not on the message.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::IdentityNotAllowed => "identity_not_allowed",
            ApiError::InvalidIdentity => "invalid_identity",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::Unauthorized => "unauthorized",
            ApiError::MissingSignature => "missing_signature",
            ApiError::InvalidSignature => "invalid_signature",
            ApiError::InvalidWebhook(_) => "invalid_webhook",
            ApiError::Upstream(TwilioError::Rejected { .. } | TwilioError::BadResponse { .. }) => {
                "upstream_rejected"
            }
            ApiError::Upstream(TwilioError::Unavailable { .. }) => "upstream_unavailable",
            ApiError::Upstream(TwilioError::Timeout { .. }) => "upstream_timeout",
            ApiError::Store(_) => "store_unavailable",
            ApiError::FlexFlowMisconfigured(_) => "flex_flow_misconfigured",
            ApiError::ChatBeingOpened => "chat_being_opened",
            ApiError::Internal(_) => "internal",
        }
    }

    /// What a caller is told of a server-side failure: what happened and what to do, no detail.
    fn public_message(&self) -> &'static str {
        match self {
            ApiError::Upstream(TwilioError::Rejected { .. } | TwilioError::BadResponse { .. }) => {
                "Twilio refused to open the chat; the operators have the details"
            }
            ApiError::Upstream(TwilioError::Unavailable { .. }) => {
                "Twilio is unavailable right now; try again shortly"
            }
            ApiError::Upstream(TwilioError::Timeout { .. }) => {
                "Twilio did not answer in time; try again shortly"
            }
            ApiError::Store(_) => "the chat registry is unavailable right now; try again shortly",
            ApiError::FlexFlowMisconfigured(_) => {
                "chat with an agent is not available: the Flex configuration is wrong"
            }
            ApiError::ChatBeingOpened => "your chat is still being opened; try again in a moment",
            _ => "internal error",
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            self.public_message().to_owned()
        } else {
            self.to_string()
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: &message,
            },
        };
        let mut response = crate::http::json_response(status, &body);
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
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let response = ApiError::InvalidToken(TokenError::Expired).into_response();
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
