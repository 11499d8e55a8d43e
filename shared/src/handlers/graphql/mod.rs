//! `POST /graphql`: the customer's chats ([`schema`]), for the frontend: is there an open chat,
//! what were the past ones, and "end my chat".
//!
//! The caller is decided exactly as for `POST /channel`. Every error, the request's as well as a
//! resolver's, is in GraphQL's shape with a stable `extensions.code`, and the HTTP status is the
//! first error's (401 no caller, 400 bad input, 404 not your chat, 413, 502/503/504 upstream),
//! so a client that reads only the status still learns what went wrong; whatever could be
//! answered is still in `data`. 200 means no error.

pub mod schema;

use std::sync::Arc;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use crate::config::{GraphqlSettings, Settings};
use crate::ending::ChatEnder;
use crate::error::ApiError;
use crate::http::{MAX_BODY_BYTES, body_within, json_response, logged, require_post};
use crate::identity::{NewGuests, resolve_caller};
use crate::store::ChannelStore;
use crate::token::TokenIssuer;
use crate::twilio::TwilioClient;
use schema::{ChatSchema, RequestScope, build_schema, extension_code};

/// What `chat-graphql` builds once per cold start.
pub struct GraphqlState {
    pub issuer: TokenIssuer,
    pub allow_guests: bool,
    pub schema: ChatSchema,
}

impl GraphqlState {
    pub fn build(
        settings: &Settings,
        graphql: &GraphqlSettings,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        let store = ChannelStore::new(dynamodb, &graphql.table, graphql.closed_retention_days);
        let twilio = TwilioClient::new(&settings.twilio, graphql.twilio_deadline);
        let ender = ChatEnder::new(twilio, graphql.hosts.clone(), &settings.chat_service_sid);
        Self {
            issuer: TokenIssuer::from_settings(settings),
            allow_guests: settings.allow_guests,
            schema: build_schema(store, ender, graphql.introspection),
        }
    }
}

/// Why a GraphQL request failed as a whole: the one table of this boundary's statuses and codes.
#[derive(Debug, thiserror::Error)]
pub enum GraphqlError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("batched queries are not supported: send one operation per request")]
    Batch,
    #[error("{0}")]
    NotGraphql(String),
    #[error("{0}")]
    Parse(String),
}

impl GraphqlError {
    pub fn status(&self) -> StatusCode {
        match self {
            GraphqlError::Api(error) => error.status(),
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn code(&self) -> String {
        match self {
            GraphqlError::Api(error) => extension_code(error),
            GraphqlError::Batch => "BATCH_NOT_SUPPORTED".into(),
            GraphqlError::NotGraphql(_) => "BAD_REQUEST".into(),
            GraphqlError::Parse(_) => "GRAPHQL_PARSE_FAILED".into(),
        }
    }

    /// `{"errors":[{"message","extensions":{"code"}}]}`: no `data`, nothing ran.
    fn into_response(self) -> Response<Body> {
        let message = match &self {
            GraphqlError::Api(error) => error.caller_message(),
            other => other.to_string(),
        };
        let body = json!({"errors": [{"message": message, "extensions": {"code": self.code()}}]});
        let mut response = json_response(self.status(), &body);
        if let GraphqlError::Api(error) = &self {
            error.add_headers(&mut response);
        }
        response
    }
}

/// The Lambda entry point for `POST /graphql`.
pub async fn handle_graphql_request(state: &GraphqlState, request: Request) -> Response<Body> {
    logged(request, |request| async move {
        graphql_response(state, &request, crate::clock::unix_now()).await
    })
    .await
}

/// The answer, and the code of its first error for the log line.
pub async fn graphql_response(
    state: &GraphqlState,
    request: &Request,
    now: i64,
) -> (Response<Body>, Option<String>) {
    match execute(state, request, now).await {
        Ok(answered) => answered,
        Err(error) => {
            let code = error.code();
            (error.into_response(), Some(code))
        }
    }
}

async fn execute(
    state: &GraphqlState,
    request: &Request,
    now: i64,
) -> Result<(Response<Body>, Option<String>), GraphqlError> {
    require_post(request)?;
    let body = body_within(request, MAX_BODY_BYTES)?;
    let caller = resolve_caller(
        request,
        &state.issuer,
        state.allow_guests,
        NewGuests::Forbidden,
        now,
    )?;
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    if value.is_array() {
        return Err(GraphqlError::Batch);
    }
    if !value.get("query").is_some_and(Value::is_string) {
        return Err(GraphqlError::NotGraphql(
            "the body must be a JSON object with a \"query\" string".into(),
        ));
    }
    let mut operation: async_graphql::Request =
        serde_json::from_value(value).map_err(|e| GraphqlError::NotGraphql(e.to_string()))?;
    operation
        .parsed_query()
        .map_err(|e| GraphqlError::Parse(e.message))?;

    let scope = RequestScope::new(caller.identity, now);
    let mut answer = state
        .schema
        .execute(operation.data(Arc::clone(&scope)))
        .await;
    // What the schema refused before running (unknown fields, argument types, depth,
    // complexity) carries no code of ours.
    for error in &mut answer.errors {
        let coded = error
            .extensions
            .as_ref()
            .is_some_and(|extensions| extensions.get("code").is_some());
        if !coded {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "GRAPHQL_VALIDATION_FAILED");
        }
    }
    let status = match scope.failure() {
        Some(status) => status,
        // Errors of the schema's own, before anything ran.
        None if !answer.errors.is_empty() => StatusCode::BAD_REQUEST,
        None => StatusCode::OK,
    };
    let code = answer.errors.first().and_then(|error| {
        let extensions = error.extensions.as_ref()?;
        match extensions.get("code")? {
            async_graphql::Value::String(code) => Some(code.clone()),
            _ => None,
        }
    });
    Ok((json_response(status, &answer), code))
}
