//! Log setup: what `lambda_http::tracing::init_default_subscriber` does (JSON when Lambda's
//! `AWS_LAMBDA_LOG_FORMAT` is JSON, level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`), except that
//! the runtime crate never logs below DEBUG: at TRACE it prints every raw event, which carries
//! bearer tokens, and the events' responses carry minted tokens.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{Directive, LevelFilter};

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|value| value.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter(level));
    if std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.eq_ignore_ascii_case("json"))
    {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn filter(level: LevelFilter) -> EnvFilter {
    let runtime_cap: Directive = "lambda_runtime=debug".parse().expect("static directive");
    EnvFilter::builder()
        .with_default_directive(level.into())
        .parse_lossy("")
        .add_directive(runtime_cap)
}
