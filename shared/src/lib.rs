//! Shared library of the flex-handoff Lambdas.
//!
//! The binaries in `functions/` only wire: they load [`config::Settings`] once per cold start,
//! build what the handler needs, and hand requests to the handlers in [`handlers`].

pub mod aws;
pub mod config;
pub mod error;
pub mod flex;
pub mod handlers;
pub mod http;
pub mod identity;
pub mod logging;
pub mod sid;
pub mod signature;
pub mod store;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod token;
pub mod twilio;

pub use error::ApiError;

/// Seconds since the Unix epoch. Handlers take `now` as an argument so tests can fix the clock.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
