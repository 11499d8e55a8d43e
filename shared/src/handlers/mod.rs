//! Route handlers. Each takes the state its binary built once per cold start.

pub mod availability;
pub mod channel;
pub mod graphql;
pub mod reconcile;
pub mod token;
pub mod webhook;
