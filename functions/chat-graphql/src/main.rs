//! `chat-graphql` Lambda: wiring only; the logic lives in `flex_handoff::handlers::graphql`.

use flex_handoff::config::{GraphqlSettings, load_function_settings};
use flex_handoff::handlers::graphql::{GraphqlState, handle_graphql_request};
use lambda_http::{Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    flex_handoff::logging::init();
    let (settings, own) = load_function_settings(async { GraphqlSettings::load() }).await?;
    let dynamodb = flex_handoff::aws::dynamodb_client().await;
    let state = GraphqlState::build(&settings, &own, dynamodb);
    drop(settings);
    let state = &state;
    flex_handoff::lambda::run_http(move |request: Request| handle_graphql_request(state, request))
        .await
}
