//! Where the local Twilio sends its chat webhooks in tests, and `flex-webhook`'s handler fed
//! what it sent, signature and all.

use flex_handoff::config::WebhookSettings;
use flex_handoff::handlers::webhook::{WebhookState, webhook_response};
use serde_json::Value;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::EventBuilder;
use crate::env::dev_env_with;

/// A stand-in for `POST /twilio/webhook` that records what Twilio sent and answers 200.
pub struct WebhookReceiver {
    pub server: MockServer,
    /// The URL create-channel registers and flex-webhook checks signatures against.
    pub url: String,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let url = format!("{}/twilio/webhook", server.uri());
        Self { server, url }
    }

    /// flex-webhook's state for this URL and `table`, with `local/dev.env`'s auth token and the
    /// default connection overrides (what create-channel registers; the local Twilio signs with
    /// them).
    pub fn state(&self, table: &str, dynamodb: aws_sdk_dynamodb::Client) -> WebhookState {
        let env = dev_env_with(&[("CHANNELS_TABLE", table), ("TWILIO_WEBHOOK_URL", &self.url)]);
        let settings = WebhookSettings::from_env(|name| env.get(name).cloned())
            .expect("the local webhook settings are valid");
        WebhookState::build(&settings, dynamodb)
    }

    /// The last webhook received, through flex-webhook's handler: its JSON answer.
    pub async fn deliver_last(&self, state: &WebhookState) -> Value {
        let received = self.server.received_requests().await.unwrap();
        let hook = received.last().expect("a webhook was sent");
        let event = EventBuilder::new("POST", "/twilio/webhook")
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "x-twilio-signature",
                hook.headers["x-twilio-signature"].to_str().unwrap(),
            )
            .body(std::str::from_utf8(&hook.body).unwrap());
        let response = webhook_response(state, &event.request(), flex_handoff::unix_now())
            .await
            .unwrap();
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    /// How many webhooks arrived.
    pub async fn received(&self) -> usize {
        self.server.received_requests().await.unwrap().len()
    }
}
