//! The one table of what each failure is for the caller ([`ApiError::answer`]): its HTTP status,
//! its stable REST code, its GraphQL `extensions.code`, and what the caller is told. The `http`
//! module renders it as `{"error":{"code","message"}}`, `handlers::graphql` in GraphQL's shape.

use lambda_http::http::StatusCode;

use crate::store::StoreError;
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
    #[error("batched queries are not supported: send one operation per request")]
    GraphqlBatch,
    /// The body is JSON but not a GraphQL request.
    #[error("{0}")]
    NotGraphql(String),
    #[error("{0}")]
    GraphqlParse(String),
    /// The operation would reach DynamoDB or Twilio more than one request may
    /// (`handlers::graphql::cost`); the message says which limit.
    #[error("{0}")]
    GraphqlTooCostly(String),
    /// Too many new guests or new chats from one client; try again after the given seconds.
    #[error("too many {what}; try again in {retry_after_seconds} s")]
    RateLimited {
        what: &'static str,
        retry_after_seconds: u64,
    },
    /// A GraphQL argument out of its bounds; the message names it.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("no chat of yours has that SID")]
    ChatNotFound,
    /// Opening the chat failed in Twilio.
    #[error("{0}")]
    Upstream(#[from] TwilioError),
    /// Ending the customer's chat failed in Twilio: the chat and its record stay open.
    #[error("the chat is still open: {0}")]
    ChatNotEnded(TwilioError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the Flex Flow is misconfigured: {0}")]
    FlexFlowMisconfigured(String),
    #[error("another request is still opening this customer's chat")]
    ChatBeingOpened,
    /// `POST /channel` while the queue's schedule says closed (and does not queue anyway).
    #[error("{}", outside_hours_message(.message.as_deref(), .next_open_at.as_deref()))]
    OutsideHours {
        /// RFC 3339; `None` while switched closed or with no opening ahead.
        next_open_at: Option<String>,
        /// The manual switch's message.
        message: Option<String>,
    },
    /// Reading the queue's statistics failed in Twilio, with nothing stored to answer instead.
    #[error("{0}")]
    AvailabilityUpstream(TwilioError),
    /// The queue's stored schedule does not parse (written around `flex-schedule`).
    #[error("{0}")]
    ScheduleInvalid(String),
    /// A rating of a chat that has not ended.
    #[error("the chat is still open: rate it once it has ended")]
    ChatStillOpen,
    #[error("the chat closed more than {hours} h ago: it can no longer be rated")]
    RatingWindowClosed { hours: u32 },
    #[error("the chat is rated already: a rating cannot be changed")]
    AlreadyRated,
    /// Reading a chat's messages failed in Twilio.
    #[error("{0}")]
    TranscriptUpstream(TwilioError),
    /// Twilio no longer has the chat's messages (deleted there).
    #[error("Twilio no longer has this chat's messages")]
    TranscriptGone,
    /// Anything that is our fault. The detail is logged, never sent to the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

/// One row of the table: how the caller is told of a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    /// The REST body's stable code; clients branch on it, not on the message.
    pub code: &'static str,
    /// GraphQL's `extensions.code`: Apollo's name where one exists, else `code` in GraphQL's case.
    pub graphql_code: &'static str,
    pub message: Message,
}

/// What the caller is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// The caller's mistake: the error's own words say what to mend.
    Detail,
    /// Ours or Twilio's: what happened and what to do; the detail is logged, never sent.
    Public(&'static str),
}

const fn row(
    status: StatusCode,
    code: &'static str,
    graphql_code: &'static str,
    message: Message,
) -> Answer {
    Answer {
        status,
        code,
        graphql_code,
        message,
    }
}

use Message::{Detail, Public};
use StatusCode as S;

const INTERNAL: Answer = row(
    S::INTERNAL_SERVER_ERROR,
    "internal",
    "INTERNAL_SERVER_ERROR",
    Public("internal error"),
);

fn outside_hours_message(message: Option<&str>, next_open_at: Option<&str>) -> String {
    match (message, next_open_at) {
        (Some(message), _) => format!("the team is closed: {message}"),
        (None, Some(at)) => format!("the team is closed; it opens again at {at}"),
        (None, None) => "the team is closed".to_owned(),
    }
}

impl From<crate::availability::AvailabilityError> for ApiError {
    fn from(error: crate::availability::AvailabilityError) -> Self {
        use crate::availability::AvailabilityError as E;
        match error {
            E::Store(error) => ApiError::Store(error),
            E::Twilio(error) => ApiError::AvailabilityUpstream(error),
            schedule @ E::Schedule(..) => ApiError::ScheduleInvalid(schedule.to_string()),
        }
    }
}

/// What the caller is told of each kind of Twilio failure, for one thing we asked of Twilio.
struct TwilioMessages {
    /// Twilio rejected the call or answered what its API does not document.
    refused: &'static str,
    unavailable: &'static str,
    timeout: &'static str,
    /// The answer was lost: Twilio may have done it.
    lost: &'static str,
}

const OPENING: TwilioMessages = TwilioMessages {
    refused: "Twilio refused to open the chat; the operators have the details",
    unavailable: "Twilio is unavailable right now; try again shortly",
    timeout: "Twilio did not answer in time; try again shortly",
    lost: "Twilio did not confirm your chat; try again in a few seconds",
};

const READING_QUEUE: TwilioMessages = TwilioMessages {
    refused: "Twilio refused the queue's statistics; the operators have the details",
    unavailable: "the queue's statistics are unavailable right now; try again shortly",
    timeout: "the queue's statistics did not arrive in time; try again shortly",
    lost: "the queue's statistics are unavailable right now; try again shortly",
};

const READING_TRANSCRIPT: TwilioMessages = TwilioMessages {
    refused: "Twilio refused the chat's messages; the operators have the details",
    unavailable: "the chat's messages are unavailable right now; try again shortly",
    timeout: "the chat's messages did not arrive in time; try again shortly",
    lost: "the chat's messages are unavailable right now; try again shortly",
};

const UNCONFIRMED_END: &str =
    "Twilio did not confirm the end of the chat, so it is still open; try again shortly";
const ENDING: TwilioMessages = TwilioMessages {
    refused: "Twilio refused to end the chat, so it is still open; the operators have the details",
    unavailable: UNCONFIRMED_END,
    timeout: UNCONFIRMED_END,
    lost: UNCONFIRMED_END,
};

/// A Twilio failure's row: its kind decides status and code, `said` the message.
fn upstream(error: &TwilioError, said: &TwilioMessages) -> Answer {
    let (status, code, graphql_code, message) = match error {
        TwilioError::Rejected { .. } | TwilioError::BadResponse { .. } => (
            S::BAD_GATEWAY,
            "upstream_rejected",
            "UPSTREAM_REJECTED",
            said.refused,
        ),
        TwilioError::Unavailable { .. } => (
            S::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            "UPSTREAM_UNAVAILABLE",
            said.unavailable,
        ),
        TwilioError::OutcomeUnknown { .. } => (
            S::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            "UPSTREAM_UNAVAILABLE",
            said.lost,
        ),
        TwilioError::Timeout { .. } => (
            S::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "UPSTREAM_TIMEOUT",
            said.timeout,
        ),
    };
    row(status, code, graphql_code, Public(message))
}

impl ApiError {
    /// The table.
    pub fn answer(&self) -> Answer {
        match self {
            ApiError::InvalidJson(_) => row(S::BAD_REQUEST, "invalid_json", "INVALID_JSON", Detail),
            ApiError::InvalidBody(_) => row(S::BAD_REQUEST, "invalid_body", "INVALID_BODY", Detail),
            ApiError::InvalidContext(_) => {
                row(S::BAD_REQUEST, "invalid_context", "INVALID_CONTEXT", Detail)
            }
            ApiError::BodyTooLarge { .. } => row(
                S::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "BODY_TOO_LARGE",
                Detail,
            ),
            ApiError::IdentityNotAllowed => row(
                S::BAD_REQUEST,
                "identity_not_allowed",
                "IDENTITY_NOT_ALLOWED",
                Detail,
            ),
            ApiError::InvalidIdentity => row(
                S::BAD_REQUEST,
                "invalid_identity",
                "INVALID_IDENTITY",
                Detail,
            ),
            ApiError::MethodNotAllowed { .. } => row(
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "METHOD_NOT_ALLOWED",
                Detail,
            ),
            ApiError::InvalidToken(_) => {
                row(S::UNAUTHORIZED, "invalid_token", "UNAUTHENTICATED", Detail)
            }
            ApiError::Unauthorized => {
                row(S::UNAUTHORIZED, "unauthorized", "UNAUTHENTICATED", Detail)
            }
            ApiError::MissingSignature => row(
                S::BAD_REQUEST,
                "missing_signature",
                "MISSING_SIGNATURE",
                Detail,
            ),
            ApiError::InvalidSignature => row(
                S::FORBIDDEN,
                "invalid_signature",
                "INVALID_SIGNATURE",
                Detail,
            ),
            ApiError::InvalidWebhook(_) => {
                row(S::BAD_REQUEST, "invalid_webhook", "INVALID_WEBHOOK", Detail)
            }
            ApiError::GraphqlBatch => row(
                S::BAD_REQUEST,
                "batch_not_supported",
                "BATCH_NOT_SUPPORTED",
                Detail,
            ),
            ApiError::NotGraphql(_) => row(S::BAD_REQUEST, "bad_request", "BAD_REQUEST", Detail),
            ApiError::GraphqlParse(_) => row(
                S::BAD_REQUEST,
                "graphql_parse_failed",
                "GRAPHQL_PARSE_FAILED",
                Detail,
            ),
            ApiError::GraphqlTooCostly(_) => row(
                S::BAD_REQUEST,
                "query_too_costly",
                "QUERY_TOO_COSTLY",
                Detail,
            ),
            ApiError::RateLimited { .. } => {
                row(S::TOO_MANY_REQUESTS, "rate_limited", "RATE_LIMITED", Detail)
            }
            ApiError::InvalidArgument(_) => {
                row(S::BAD_REQUEST, "invalid_argument", "BAD_USER_INPUT", Detail)
            }
            ApiError::ChatNotFound => row(S::NOT_FOUND, "chat_not_found", "CHAT_NOT_FOUND", Detail),
            ApiError::Upstream(error) => upstream(error, &OPENING),
            ApiError::ChatNotEnded(error) => upstream(error, &ENDING),
            ApiError::Store(StoreError::Unavailable { .. }) => row(
                S::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "STORE_UNAVAILABLE",
                Public("the chat registry is unavailable right now; try again shortly"),
            ),
            // A record we cannot read is our fault, not the store's availability.
            ApiError::Store(StoreError::Unreadable { .. }) => INTERNAL,
            ApiError::FlexFlowMisconfigured(_) => row(
                S::SERVICE_UNAVAILABLE,
                "flex_flow_misconfigured",
                "FLEX_FLOW_MISCONFIGURED",
                Public("chat with an agent is not available: the Flex configuration is wrong"),
            ),
            ApiError::ChatBeingOpened => row(
                S::SERVICE_UNAVAILABLE,
                "chat_being_opened",
                "CHAT_BEING_OPENED",
                Public("your chat is still being opened; try again in a moment"),
            ),
            ApiError::OutsideHours { .. } => {
                row(S::CONFLICT, "outside_hours", "OUTSIDE_HOURS", Detail)
            }
            ApiError::AvailabilityUpstream(error) => upstream(error, &READING_QUEUE),
            ApiError::ScheduleInvalid(_) => row(
                S::SERVICE_UNAVAILABLE,
                "schedule_invalid",
                "SCHEDULE_INVALID",
                Public(
                    "the team's opening hours are misconfigured; the operators have the details",
                ),
            ),
            ApiError::ChatStillOpen => {
                row(S::CONFLICT, "chat_still_open", "CHAT_STILL_OPEN", Detail)
            }
            ApiError::RatingWindowClosed { .. } => row(
                S::CONFLICT,
                "rating_window_closed",
                "RATING_WINDOW_CLOSED",
                Detail,
            ),
            ApiError::AlreadyRated => row(S::CONFLICT, "already_rated", "ALREADY_RATED", Detail),
            ApiError::TranscriptUpstream(error) => upstream(error, &READING_TRANSCRIPT),
            ApiError::TranscriptGone => row(S::GONE, "transcript_gone", "TRANSCRIPT_GONE", Detail),
            ApiError::Internal(_) => INTERNAL,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.answer().status
    }

    /// Stable, machine-readable code; clients branch on this, not on the message.
    pub fn code(&self) -> &'static str {
        self.answer().code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_twilio_error() -> [TwilioError; 5] {
        [
            TwilioError::Rejected {
                what: "w",
                status: 400,
                code: 1,
                message: "m".into(),
            },
            TwilioError::BadResponse {
                what: "w",
                reason: "r".into(),
            },
            TwilioError::Unavailable {
                what: "w",
                attempts: 4,
                last: "l".into(),
            },
            TwilioError::Timeout {
                what: "w",
                deadline_ms: 1,
            },
            TwilioError::OutcomeUnknown {
                what: "w",
                reason: "r".into(),
            },
        ]
    }

    #[test]
    fn server_side_failures_have_a_public_message_and_callers_mistakes_their_own_words() {
        let mut errors = vec![
            ApiError::InvalidJson("x".into()),
            ApiError::GraphqlBatch,
            ApiError::ChatNotFound,
            ApiError::Internal("secret detail".into()),
            ApiError::ChatBeingOpened,
            ApiError::Store(StoreError::Unreadable {
                key: "chat#CH".into(),
                detail: "d".into(),
            }),
        ];
        errors.extend(every_twilio_error().map(ApiError::Upstream));
        errors.extend(every_twilio_error().map(ApiError::ChatNotEnded));
        errors.extend(every_twilio_error().map(ApiError::TranscriptUpstream));
        errors.extend([
            ApiError::ChatStillOpen,
            ApiError::AlreadyRated,
            ApiError::RatingWindowClosed { hours: 24 },
            ApiError::TranscriptGone,
        ]);
        for error in errors {
            let answer = error.answer();
            assert_eq!(
                answer.status.is_server_error(),
                matches!(answer.message, Public(_)),
                "{error:?}"
            );
            assert_eq!(
                answer.graphql_code,
                answer.graphql_code.to_ascii_uppercase(),
                "{error:?}"
            );
        }
    }

    #[test]
    fn twilio_failures_map_to_gateway_statuses_and_ending_says_the_chat_is_still_open() {
        let statuses: Vec<u16> = every_twilio_error()
            .map(|e| ApiError::Upstream(e).status().as_u16())
            .to_vec();
        assert_eq!(statuses, [502, 502, 503, 504, 503]);
        for (opening, ending) in every_twilio_error().into_iter().zip(every_twilio_error()) {
            let opening = ApiError::Upstream(opening).answer();
            let ending = ApiError::ChatNotEnded(ending).answer();
            assert_eq!((opening.status, opening.code), (ending.status, ending.code));
            let Public(message) = ending.message else {
                panic!("{ending:?}")
            };
            assert!(message.contains("still open"), "{message}");
        }
        let [.., timeout, _] = every_twilio_error();
        assert_eq!(
            ApiError::Upstream(timeout).answer().message,
            Public(OPENING.timeout)
        );
    }
}
