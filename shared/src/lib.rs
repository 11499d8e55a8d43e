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
//!   (`POST /graphql`: the customer's chats and `endChat`), and [`handlers::reconcile`] (the
//!   scheduled repair of chats whose end never reached us). Each owns the state its binary
//!   builds once per cold start.
//! - **The HTTP boundary**: [`http`] parses bodies, renders responses and errors and writes the
//!   one log line per request; [`error`] is the one table of failures (status, REST code,
//!   GraphQL code, message); [`identity`] decides who the caller is ([`identity::Callers`]).
//! - **Services**: [`store`] is the DynamoDB table (claims, active chats, records, an identity's
//!   history), and writes and reads the chat's mode and status; [`flex`] is Twilio Flex, one
//!   file per Flex mode (how a chat is opened, found again after a lost answer, which webhook
//!   events end it, how the customer ends it) and the steps they share; [`token`] mints and
//!   verifies Twilio Access Tokens; [`signature`] checks `X-Twilio-Signature`; [`liveness`] asks
//!   Twilio whether a chat we hold as open still is and repairs the store (for a stale reuse and
//!   the reconciler alike).
//! - **Clients**: [`twilio`] (Twilio REST with bounded retries inside a deadline) and [`aws`]
//!   (the AWS SDK's HTTPS client and configuration).
//! - **Leaves**: [`config`] (typed settings and their parsing; `create-channel`'s, which hold the
//!   Flex mode's, are [`handlers::channel::ChannelSettings`]), [`context`] (the bot's context:
//!   checked, fitted to a task, rendered as history messages), [`ids`] (the SID and identity
//!   alphabets), [`clock`] (`now` and a request's clock), [`logging`] and [`metrics`] (CloudWatch
//!   Embedded Metric Format lines).

pub mod availability;
pub mod aws;
pub mod clock;
pub mod config;
pub mod context;
pub mod error;
pub mod flex;
pub mod handlers;
pub mod http;
pub mod identity;
pub mod ids;
pub mod lambda;
pub mod liveness;
pub mod logging;
pub mod metrics;
pub mod rate_limit;
pub mod signature;
pub mod store;
pub mod token;
pub mod twilio;

pub use clock::unix_now;
pub use error::ApiError;
