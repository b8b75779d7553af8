//! Logs go to stderr, as text or JSON lines. `RUST_LOG` (if set) wins over `log.level`, for
//! one-off debugging of a single module.

use std::io::IsTerminal;

use postern_core::config::LogFormat;
use tracing_subscriber::EnvFilter;

pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},hyper=warn,rustls=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, never in files or journald.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(true);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Err(err) = result {
        eprintln!("postern: logging is already set up: {err}");
    }
}
