//! `reconcile-chats` Lambda, on an EventBridge schedule: wiring only; the logic lives in
//! `flex_handoff::handlers::reconcile`. The event's content is not read: every run does the same.

use std::time::SystemTime;

use flex_handoff::config::{ReconcileSettings, load_function_settings};
use flex_handoff::handlers::reconcile::{FALLBACK_TIME, ReconcileState, reconcile, time_left};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    flex_handoff::logging::init();
    let (settings, own) = load_function_settings(async { ReconcileSettings::load() }).await?;
    let dynamodb = flex_handoff::aws::dynamodb_client().await;
    let state = ReconcileState::build(&settings, &own, dynamodb);
    drop(settings);
    let state = &state;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let time_left = time_left(event.context.deadline(), SystemTime::now(), FALLBACK_TIME);
        let report = reconcile(state, flex_handoff::unix_now(), time_left).await?;
        Ok::<_, Error>(serde_json::to_value(report)?)
    }))
    .await
}
