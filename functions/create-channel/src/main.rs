//! `create-channel` Lambda: wiring only; the logic lives in `flex_handoff::handlers::channel`.

use flex_handoff::config::load_function_settings;
use flex_handoff::handlers::channel::{ChannelSettings, ChannelState, handle_channel_request};
use lambda_http::{Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    flex_handoff::logging::init();
    let (settings, own) = load_function_settings(ChannelSettings::load()).await?;
    let dynamodb = flex_handoff::aws::dynamodb_client().await;
    let state = ChannelState::build(&settings, &own, dynamodb).await;
    drop(settings);
    let state = &state;
    flex_handoff::lambda::run_http(move |request: Request| handle_channel_request(state, request))
        .await
}
