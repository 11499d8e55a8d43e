//! The one table of what each failure is for the caller: its HTTP status, its stable code and,
//! for server-side failures, the message that replaces the detail. The `http` module renders it.

use lambda_http::http::StatusCode;

use crate::token::TokenError;
use crate::twilio::TwilioError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("the bot context is invalid: {0}")]
    InvalidContext(#[from] crate::context::ContextError),
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
    /// Ending the customer's chat failed in Twilio: the chat and its record stay open.
    #[error("the chat is still open: {0}")]
    ChatNotEnded(TwilioError),
    #[error("no chat of yours has that SID")]
    ChatNotFound,
    /// A GraphQL argument out of its bounds; the message names it.
    #[error("{0}")]
    InvalidArgument(String),
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

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::InvalidBody(_)
            | ApiError::InvalidContext(_)
            | ApiError::IdentityNotAllowed
            | ApiError::InvalidIdentity
            | ApiError::MissingSignature
            | ApiError::InvalidWebhook(_)
            | ApiError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidSignature => StatusCode::FORBIDDEN,
            ApiError::ChatNotFound => StatusCode::NOT_FOUND,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InvalidToken(_) | ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Upstream(error) | ApiError::ChatNotEnded(error) => match error {
                TwilioError::Rejected { .. } | TwilioError::BadResponse { .. } => {
                    StatusCode::BAD_GATEWAY
                }
                TwilioError::Unavailable { .. } | TwilioError::OutcomeUnknown { .. } => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                TwilioError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            },
            ApiError::Store(_) | ApiError::FlexFlowMisconfigured(_) | ApiError::ChatBeingOpened => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable, machine-readable code; clients branch on this, not on the message.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::InvalidContext(_) => "invalid_context",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::IdentityNotAllowed => "identity_not_allowed",
            ApiError::InvalidIdentity => "invalid_identity",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::Unauthorized => "unauthorized",
            ApiError::MissingSignature => "missing_signature",
            ApiError::InvalidSignature => "invalid_signature",
            ApiError::InvalidWebhook(_) => "invalid_webhook",
            ApiError::Upstream(error) | ApiError::ChatNotEnded(error) => match error {
                TwilioError::Rejected { .. } | TwilioError::BadResponse { .. } => {
                    "upstream_rejected"
                }
                TwilioError::Unavailable { .. } | TwilioError::OutcomeUnknown { .. } => {
                    "upstream_unavailable"
                }
                TwilioError::Timeout { .. } => "upstream_timeout",
            },
            ApiError::ChatNotFound => "chat_not_found",
            ApiError::InvalidArgument(_) => "invalid_argument",
            ApiError::Store(_) => "store_unavailable",
            ApiError::FlexFlowMisconfigured(_) => "flex_flow_misconfigured",
            ApiError::ChatBeingOpened => "chat_being_opened",
            ApiError::Internal(_) => "internal",
        }
    }

    /// What a caller is told of a server-side failure: what happened and what to do, no detail.
    pub(crate) fn public_message(&self) -> &'static str {
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
            ApiError::Upstream(TwilioError::OutcomeUnknown { .. }) => {
                "Twilio did not confirm your chat; try again in a few seconds"
            }
            ApiError::ChatNotEnded(
                TwilioError::Rejected { .. } | TwilioError::BadResponse { .. },
            ) => {
                "Twilio refused to end the chat, so it is still open; the operators have the details"
            }
            ApiError::ChatNotEnded(_) => {
                "Twilio did not confirm the end of the chat, so it is still open; try again shortly"
            }
            ApiError::Store(_) => "the chat registry is unavailable right now; try again shortly",
            ApiError::FlexFlowMisconfigured(_) => {
                "chat with an agent is not available: the Flex configuration is wrong"
            }
            ApiError::ChatBeingOpened => "your chat is still being opened; try again in a moment",
            _ => "internal error",
        }
    }
}
