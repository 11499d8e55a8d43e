//! Test support for the flex-handoff workspace: a dev-only crate, never part of a Lambda build.
//!
//! - [`env`]: the workspace's files and the local dev settings (`local/dev.env`) with overrides;
//! - [`process`]: local servers as child processes on free loopback ports;
//! - [`moto`]: a real DynamoDB/Secrets Manager-compatible server and the channels table;
//! - [`twilio`]: Prism with Twilio's OpenAPI specs, wiremock stand-ins, Twilio's Python library;
//! - [`events`]: API Gateway events, built or read from `events/`, and their responses;
//! - [`runtime`]: a function binary run under a fake Lambda Runtime API;
//! - [`channel`]: `create-channel`'s handler on moto and the stand-ins, and its test helpers;
//! - [`graphql`]: `chat-graphql`'s handler on moto and the stand-ins;
//! - [`webhook`]: where the local Twilio's webhooks land, fed to `flex-webhook`'s handler.

pub mod channel;
pub mod env;
pub mod events;
pub mod graphql;
pub mod moto;
pub mod process;
pub mod runtime;
pub mod twilio;
pub mod webhook;

pub use env::{
    channel_settings, dev_env, dev_env_with, dev_settings, graphql_settings, workspace_root,
};
pub use events::{EventBuilder, event_file, response_body};
pub use moto::{MotoServer, open_chat, open_chat_as};
pub use process::free_port;
pub use runtime::{LambdaRun, run_lambda_binary, run_lambda_command};
pub use twilio::{
    LocalTwilio, PrismServer, STAND_IN_CHANNEL_SID, STAND_IN_CONVERSATION_SID,
    STAND_IN_CUSTOM_CONVERSATION_SID, STAND_IN_INTERACTION_CHANNEL_SID, STAND_IN_INTERACTION_SID,
    TwilioStandIns, twilio_form_signature, twilio_helper,
};
pub use webhook::WebhookReceiver;
