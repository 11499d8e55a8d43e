//! `flex-webhook` Lambda: wiring only; the logic lives in `flex_handoff::handlers::webhook`.

use flex_handoff::config::WebhookSettings;
use flex_handoff::handlers::webhook::{WebhookState, handle_webhook_request};
use lambda_http::{Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    flex_handoff::logging::init();
    // Only the auth token and the table: not the API key every other function loads.
    let settings = WebhookSettings::load().await.inspect_err(|error| {
        lambda_http::tracing::error!(%error, "invalid configuration");
    })?;
    let dynamodb = flex_handoff::aws::dynamodb_client().await;
    let state = WebhookState::build(&settings, dynamodb);
    drop(settings);
    let state = &state;
    flex_handoff::lambda::run_http(move |request: Request| handle_webhook_request(state, request))
        .await
}
