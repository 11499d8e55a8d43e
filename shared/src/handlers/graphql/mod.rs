//! `POST /graphql`: the customer's chats ([`schema`]), for the frontend: is there an open chat,
//! what were the past ones, "end my chat", and after it, its rating and transcript.
//!
//! The caller is decided exactly as for `POST /channel`. Every error, the request's as well as a
//! resolver's, is in GraphQL's shape with a stable `extensions.code`, and the HTTP status is the
//! first error's (401 no caller, 400 bad input, 404 not your chat, 413, 502/503/504 upstream),
//! so a client that reads only the status still learns what went wrong; whatever could be
//! answered is still in `data`. 200 means no error.

pub mod cost;
pub mod schema;

use std::sync::Arc;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use crate::availability::Availability;
use crate::config::{GraphqlSettings, Settings};
use crate::error::ApiError;
use crate::flex::TwilioChats;
use crate::http::{MAX_BODY_BYTES, body_within, json_response, logged, require_post};
use crate::identity::{Callers, NewGuests};
use crate::rate_limit::RateLimiter;
use crate::store::ChannelStore;
use crate::twilio::TwilioClient;
use schema::{AfterChat, ChatSchema, RequestScope, build_schema};

/// The code of what the schema itself refused before anything ran (unknown fields, argument
/// types, depth, complexity).
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

/// What `chat-graphql` builds once per cold start.
pub struct GraphqlState {
    pub callers: Callers,
    pub schema: ChatSchema,
}

impl GraphqlState {
    pub fn build(
        settings: &Settings,
        graphql: &GraphqlSettings,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        let dynamodb_for_limits = dynamodb.clone();
        let store = ChannelStore::new(
            dynamodb.clone(),
            &graphql.table,
            graphql.closed_retention_days,
        );
        let twilio = TwilioClient::new(&settings.twilio, graphql.twilio_deadline);
        let availability = Availability::new(
            dynamodb,
            &graphql.table,
            graphql.availability.clone(),
            twilio.clone(),
            &graphql.hosts.taskrouter,
        );
        let chats = TwilioChats::new(twilio, graphql.hosts.clone(), &settings.chat_service_sid);
        Self {
            callers: Callers::from_settings(settings),
            schema: build_schema(
                store,
                chats,
                availability,
                AfterChat {
                    rating_window_seconds: i64::from(graphql.rating_window_hours) * 3600,
                    agent_name: graphql.transcript_agent_name.clone(),
                    transcript_pages: RateLimiter::new(
                        dynamodb_for_limits,
                        &graphql.table,
                        "transcript-page",
                        graphql.transcript_pages,
                    ),
                },
                graphql.introspection,
            ),
        }
    }
}

/// A request refused as a whole, in GraphQL's shape:
/// `{"errors":[{"message","extensions":{"code"}}]}`, no `data`: nothing ran.
fn refused(error: ApiError) -> (Response<Body>, Option<String>) {
    let answer = error.answer();
    let body = json!({"errors": [{
        "message": error.caller_message(),
        "extensions": {"code": answer.graphql_code},
    }]});
    let mut response = json_response(answer.status, &body);
    error.add_headers(&mut response);
    (response, Some(answer.graphql_code.to_owned()))
}

/// The Lambda entry point for `POST /graphql`.
pub async fn handle_graphql_request(state: &GraphqlState, request: Request) -> Response<Body> {
    logged(request, |request| async move {
        graphql_response_at(state, &request, crate::clock::unix_now_millis()).await
    })
    .await
}

/// The answer, and the code of its first error for the log line.
pub async fn graphql_response(
    state: &GraphqlState,
    request: &Request,
    now: i64,
) -> (Response<Body>, Option<String>) {
    graphql_response_at(state, request, now * 1000).await
}

/// As [`graphql_response`], at a time in milliseconds.
pub async fn graphql_response_at(
    state: &GraphqlState,
    request: &Request,
    now_ms: i64,
) -> (Response<Body>, Option<String>) {
    execute(state, request, now_ms)
        .await
        .unwrap_or_else(refused)
}

async fn execute(
    state: &GraphqlState,
    request: &Request,
    now_ms: i64,
) -> Result<(Response<Body>, Option<String>), ApiError> {
    let now = now_ms.div_euclid(1000);
    require_post(request)?;
    let body = body_within(request, MAX_BODY_BYTES)?;
    let caller = state.callers.resolve(request, NewGuests::Forbidden, now)?;
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    if value.is_array() {
        return Err(ApiError::GraphqlBatch);
    }
    if !value.get("query").is_some_and(Value::is_string) {
        return Err(ApiError::NotGraphql(
            "the body must be a JSON object with a \"query\" string".into(),
        ));
    }
    let mut operation: async_graphql::Request =
        serde_json::from_value(value).map_err(|e| ApiError::NotGraphql(e.to_string()))?;
    let operation_name = operation.operation_name.take();
    let document = operation
        .parsed_query()
        .map_err(|e| ApiError::GraphqlParse(e.message))?;
    cost::check(document, operation_name.as_deref()).map_err(ApiError::GraphqlTooCostly)?;
    operation.operation_name = operation_name;

    let scope = RequestScope::at_millis(caller.identity, now_ms);
    let mut answer = state
        .schema
        .execute(operation.data(Arc::clone(&scope)))
        .await;
    // What the schema refused before running carries no code of ours.
    for error in &mut answer.errors {
        let coded = error
            .extensions
            .as_ref()
            .is_some_and(|extensions| extensions.get("code").is_some());
        if !coded {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", VALIDATION_FAILED);
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
