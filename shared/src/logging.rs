//! Log setup: what `lambda_http::tracing::init_default_subscriber` does (JSON when Lambda's
//! `AWS_LAMBDA_LOG_FORMAT` is JSON, level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`), except that
//! the runtime crate never logs below DEBUG: at TRACE it prints every raw event, which carries
//! bearer tokens, and the events' responses carry minted tokens.
//!
//! The filter is a [`Targets`] (a level, and the runtime's cap), not an `EnvFilter`: an
//! `EnvFilter` links `regex-automata`, whose Unicode tables async-graphql's `regex` switches on
//! for every binary of the workspace (README, "Dependencies").

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|value| value.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(LevelFilter::TRACE);
    if std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.eq_ignore_ascii_case("json"))
    {
        builder.json().finish().with(filter(level)).init();
    } else {
        builder.finish().with(filter(level)).init();
    }
}

fn filter(level: LevelFilter) -> Targets {
    Targets::new()
        .with_default(level)
        .with_target("lambda_runtime", LevelFilter::DEBUG)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn the_runtime_never_logs_below_debug_whatever_the_level() {
        let trace = filter(LevelFilter::TRACE);
        assert!(trace.would_enable("flex_handoff::store", &Level::TRACE));
        assert!(trace.would_enable("aws_smithy_runtime", &Level::TRACE));
        assert!(trace.would_enable("lambda_runtime", &Level::DEBUG));
        assert!(!trace.would_enable("lambda_runtime", &Level::TRACE));
        assert!(!trace.would_enable("lambda_runtime::layers::trace", &Level::TRACE));
        let info = filter(LevelFilter::INFO);
        assert!(info.would_enable("flex_handoff", &Level::INFO));
        assert!(!info.would_enable("flex_handoff", &Level::DEBUG));
    }
}
