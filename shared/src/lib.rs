//! Shared library of the flex-handoff Lambdas.
//!
//! The binaries in `functions/` only wire: they load [`config::Settings`] once per cold start,
//! build what the handler needs, and hand requests to the handlers in [`handlers`].
//!
//! # Layout
//!
//! Modules read top-down: each uses only those below it, never one that uses it back.
//!
//! - **Handlers**, one per route: [`handlers::token`] (`POST /token`), [`handlers::channel`]
//!   (`POST /channel`), [`handlers::webhook`] (`POST /twilio/webhook`), [`handlers::graphql`]
//!   (`POST /graphql`: the customer's chats and `endChat`). Each owns the state its binary
//!   builds once per cold start.
//! - **The HTTP boundary**: [`http`] parses bodies, renders responses and errors and writes the
//!   one log line per request; [`error`] is the one table of failures, statuses and codes;
//!   [`identity`] decides who the caller is.
//! - **Services**: [`flex`] opens chats in the configured Flex mode and registers the chat-end
//!   webhook; [`ending`] ends a chat in Twilio as its mode requires; [`store`] is the DynamoDB
//!   table (claims, active chats, records, an identity's history); [`token`] mints
//!   and verifies Twilio Access Tokens; [`signature`] checks `X-Twilio-Signature`.
//! - **Clients**: [`twilio`] (Twilio REST with bounded retries inside a deadline) and [`aws`]
//!   (the AWS SDK's HTTPS client and configuration).
//! - **Leaves**: [`config`] (typed settings and their parsing), [`context`] (the bot's context:
//!   checked, fitted to a task, rendered as history messages), [`ids`] (the SID and identity
//!   alphabets), [`chat_end`] (which webhook events end a chat, per chat API), [`clock`]
//!   (`now` and a request's clock) and [`logging`].

pub mod aws;
pub mod chat_end;
pub mod clock;
pub mod config;
pub mod context;
pub mod ending;
pub mod error;
pub mod flex;
pub mod handlers;
pub mod http;
pub mod identity;
pub mod ids;
pub mod logging;
pub mod signature;
pub mod store;
pub mod token;
pub mod twilio;

pub use clock::unix_now;
pub use error::ApiError;
