//! `generate-token` Lambda: wiring only; the logic lives in `flex_handoff::handlers::token`.

use flex_handoff::config::{TokenSettings, load_function_settings};
use flex_handoff::handlers::token::{TokenState, handle_token_request};
use lambda_http::{Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    flex_handoff::logging::init();
    let (settings, own) = load_function_settings(async { TokenSettings::load() }).await?;
    let dynamodb = flex_handoff::aws::dynamodb_client().await;
    let state = TokenState::build(&settings, &own, dynamodb);
    drop(settings);
    let state = &state;
    flex_handoff::lambda::run_http(move |request: Request| handle_token_request(state, request))
        .await
}
