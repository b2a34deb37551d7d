//! Logging setup shared by the binaries: `tracing` to stderr, human-readable or JSON (`SLUICE_LOG_FORMAT=json`),
//! level from `RUST_LOG` (default `info`).

use std::io::IsTerminal;

use sluice_api::worker_env;
use tracing_subscriber::EnvFilter;

pub fn init() {
    // A filter that does not parse falls back to `info`, and says so once logging works: a typo in a
    // level must not silence the worker, nor go unnoticed.
    let mut rejected = None;
    let filter = match std::env::var(worker_env::LOG_FILTER) {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .unwrap_or_else(|e| {
                rejected = Some((directives, e.to_string()));
                EnvFilter::new("info")
            }),
        _ => EnvFilter::new("info"),
    };
    let json = std::env::var(worker_env::LOG_FORMAT).is_ok_and(|v| v == "json");
    // Colour codes only for a person at a terminal: a file, `kubectl logs` or a log shipper gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second init (tests calling into binaries' code) is harmless; ignore its error.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Some((directives, error)) = rejected {
        tracing::warn!(%directives, %error, "RUST_LOG is not a log filter; logging at info");
    }
}
