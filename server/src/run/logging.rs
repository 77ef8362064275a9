//! Logging for `tandem run`: `tracing` events as single lines on stderr, filtered by
//! `RUST_LOG` when it is set and valid, else by `[log] level`.
//!
//! Nothing on the media path logs (DESIGN.md: counters only); these lines come from start-up,
//! shutdown and signalling.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use super::config::LogFilter;

/// Installs the global subscriber. A second call (tests that start several servers in one
/// process) keeps the first subscriber.
pub fn init(level: &LogFilter) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(level.as_str()));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
