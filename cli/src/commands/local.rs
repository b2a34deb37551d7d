//! `sluice run`: the fraud job in embedded local mode.

use std::path::Path;
use std::process::ExitCode;

/// Runs the local job file `config` to its end.
pub fn run(config: &Path) -> ExitCode {
    match sluice_cli::local::run_file(config) {
        Ok(summary) => {
            tracing::info!(?summary, "local run finished");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice run: {e}");
            ExitCode::FAILURE
        }
    }
}
