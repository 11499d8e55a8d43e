//! `POST /twilio/webhook`: Twilio's chat events, signature-checked, closing finished chats so the
//! customer's next press opens a fresh one, and recording when an agent accepted each chat (our
//! own wait figures, [`crate::availability::acceptance`]).

use std::collections::HashMap;

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::availability::acceptance::{Acceptance, AcceptanceLog};
use crate::config::WebhookSettings;
use crate::error::ApiError;
pub use crate::flex::ChatEvent;
use crate::http::{body_within, json_response, require_post, respond};
use crate::signature::{SignatureError, SignedBody, WebhookVerifier};
use crate::store::{ChannelStore, CloseOutcome};

/// Twilio's webhook bodies are small; a chat message is at most 1,600 characters.
pub const MAX_WEBHOOK_BYTES: usize = 64 * 1024;

/// What `flex-webhook` builds once per cold start.
pub struct WebhookState {
    pub verifier: WebhookVerifier,
    pub store: ChannelStore,
    pub acceptances: AcceptanceLog,
}

impl WebhookState {
    pub fn build(webhook: &WebhookSettings, dynamodb: aws_sdk_dynamodb::Client) -> Self {
        Self {
            verifier: WebhookVerifier::new(
                &webhook.auth_token,
                &webhook.public_url,
                webhook.connection_overrides.as_deref(),
            ),
            acceptances: AcceptanceLog::new(dynamodb.clone(), &webhook.table, &webhook.queue_name),
            store: ChannelStore::new(dynamodb, &webhook.table, webhook.closed_retention_days),
        }
    }
}

#[derive(Serialize)]
struct WebhookResponse {
    result: &'static str,
}

/// The Lambda entry point for `POST /twilio/webhook`.
pub async fn handle_webhook_request(state: &WebhookState, request: Request) -> Response<Body> {
    respond(request, |request| async move {
        webhook_response(state, &request, crate::clock::unix_now()).await
    })
    .await
}

pub async fn webhook_response(
    state: &WebhookState,
    request: &Request,
    now: i64,
) -> Result<Response<Body>, ApiError> {
    require_post(request)?;
    let body = body_within(request, MAX_WEBHOOK_BYTES)?;
    let signature = request
        .headers()
        .get("x-twilio-signature")
        .and_then(|value| value.to_str().ok());
    let query = request.uri().query().unwrap_or("");
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("application/json"));

    // Nothing is interpreted, let alone written, before the signature holds.
    let form: Vec<(String, String)> = if is_json {
        Vec::new()
    } else {
        url::form_urlencoded::parse(body).into_owned().collect()
    };
    let signed = if is_json {
        SignedBody::Json(body)
    } else {
        SignedBody::Form(&form)
    };
    state
        .verifier
        .verify(signature, query, signed)
        .map_err(|error| match error {
            SignatureError::Missing => ApiError::MissingSignature,
            SignatureError::Mismatch => ApiError::InvalidSignature,
        })?;

    let fields = if is_json {
        json_fields(body)?
    } else {
        form.into_iter().collect()
    };
    let result = match chat_event(&fields)? {
        ChatEvent::Other => "ignored",
        ChatEvent::Ended { channel_sid } => match state.store.close(&channel_sid, now).await? {
            CloseOutcome::Closed => {
                tracing::info!(%channel_sid, "chat closed");
                "closed"
            }
            CloseOutcome::AlreadyClosed => "already_closed",
            CloseOutcome::Unknown => "unknown_channel",
        },
        ChatEvent::Joined {
            channel_sid,
            identity,
        } => match state.store.chat(&channel_sid).await? {
            None => "unknown_channel",
            Some(record) => match state.acceptances.record(&record, &identity, now).await? {
                Acceptance::Recorded { wait_seconds } => {
                    tracing::info!(%channel_sid, wait_seconds, "agent accepted the chat");
                    "accepted"
                }
                Acceptance::AlreadyRecorded => "already_accepted",
                Acceptance::Customer => "customer_joined",
                Acceptance::Closed => "already_closed",
            },
        },
    };
    Ok(json_response(StatusCode::OK, &WebhookResponse { result }))
}

/// Reads the events `create-channel` registers ([`crate::flex::classify`]).
pub fn chat_event(fields: &HashMap<String, String>) -> Result<ChatEvent, ApiError> {
    crate::flex::classify(fields).map_err(ApiError::InvalidWebhook)
}

/// A JSON webhook body's top-level string fields.
fn json_fields(body: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::InvalidWebhook("the JSON body is not an object".into()))?;
    Ok(object
        .iter()
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(items: &[(&str, &str)]) -> Result<ChatEvent, ApiError> {
        chat_event(
            &items
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    const CH: &str = "CH00000000000000000000000000000001";

    fn ended() -> ChatEvent {
        ChatEvent::Ended {
            channel_sid: CH.into(),
        }
    }

    #[test]
    fn legacy_inactive_and_destroyed_channels_have_ended() {
        let inactive = r#"{"status":"INACTIVE","from":"Ada"}"#;
        assert_eq!(
            event(&[
                ("EventType", "onChannelUpdated"),
                ("ChannelSid", CH),
                ("Attributes", inactive)
            ])
            .unwrap(),
            ended()
        );
        assert_eq!(
            event(&[("EventType", "onChannelDestroyed"), ("ChannelSid", CH)]).unwrap(),
            ended()
        );
        let active = r#"{"status":"ACTIVE"}"#;
        assert_eq!(
            event(&[
                ("EventType", "onChannelUpdated"),
                ("ChannelSid", CH),
                ("Attributes", active)
            ])
            .unwrap(),
            ChatEvent::Other
        );
    }

    #[test]
    fn conversations_closed_and_removed_have_ended() {
        let closed = [
            ("EventType", "onConversationStateUpdated"),
            ("ConversationSid", CH),
            ("StateFrom", "active"),
            ("StateTo", "closed"),
        ];
        assert_eq!(event(&closed).unwrap(), ended());
        let inactive = [
            ("EventType", "onConversationStateUpdated"),
            ("ConversationSid", CH),
            ("StateTo", "inactive"),
        ];
        assert_eq!(event(&inactive).unwrap(), ChatEvent::Other);
        assert_eq!(
            event(&[
                ("EventType", "onConversationRemoved"),
                ("ConversationSid", CH)
            ])
            .unwrap(),
            ended()
        );
    }

    #[test]
    fn other_events_are_acknowledged_and_malformed_ones_rejected() {
        assert_eq!(
            event(&[("EventType", "onMessageSent"), ("ChannelSid", CH)]).unwrap(),
            ChatEvent::Other
        );
        for bad in [
            vec![("ChannelSid", CH)],
            vec![("EventType", "onChannelDestroyed")],
            vec![("EventType", "onChannelDestroyed"), ("ChannelSid", "CH123")],
            vec![
                ("EventType", "onChannelUpdated"),
                ("ChannelSid", CH),
                ("Attributes", "{not json"),
            ],
            vec![
                ("EventType", "onConversationRemoved"),
                ("ConversationSid", "IS00000000000000000000000000000001"),
            ],
        ] {
            let error = event(&bad).unwrap_err();
            assert_eq!(
                (error.status(), error.code()),
                (StatusCode::BAD_REQUEST, "invalid_webhook"),
                "{bad:?}"
            );
        }
    }
}
