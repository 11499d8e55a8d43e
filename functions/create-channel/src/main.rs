//! `create-channel` Lambda: wiring only; the logic lives in `flex_handoff::handlers::channel`.

use flex_handoff::config::{ChannelSettings, Settings};
use flex_handoff::handlers::channel::{ChannelState, handle_channel_request};
use lambda_http::{Error, Request, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    flex_handoff::logging::init();
    let aws = flex_handoff::aws::sdk_config().await;
    let settings = Settings::load(Some(&aws)).await;
    let channel_settings = ChannelSettings::load();
    let (settings, channel_settings) = match (settings, channel_settings) {
        (Ok(settings), Ok(channel_settings)) => (settings, channel_settings),
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%error, "invalid configuration");
            return Err(error.into());
        }
    };
    let state = ChannelState::build(&settings, &channel_settings, &aws).await;
    drop(settings);
    let state = &state;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(handle_channel_request(state, request).await)
    }))
    .await
}
