//! `generate-token` Lambda: wiring only; the logic lives in `flex_handoff::handlers::token`.

use flex_handoff::config::Settings;
use flex_handoff::handlers::token::{TokenState, handle_token_request};
use lambda_http::{Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    flex_handoff::logging::init();
    let settings = Settings::load().await.inspect_err(|error| {
        tracing::error!(%error, "invalid configuration");
    })?;
    let state = TokenState::from_settings(&settings);
    drop(settings);
    let state = &state;
    flex_handoff::lambda::run_http(move |request: Request| handle_token_request(state, request))
        .await
}
