//! The `sluice` subcommands, one module per group: its clap argument types and the handler that calls the
//! library (`sluice_cli`), prints the outcome and chooses the exit code. The helpers here are the ones several
//! groups share: reading a job config and running an operations command.

pub mod audit;
pub mod checkpoints;
pub mod local;
pub mod produce;
pub mod verify;
pub mod workers;

use std::path::Path;
use std::process::ExitCode;

use sluice_api::JobConfig;

/// Reads a `job:` section from a worker config, or a bare job config.
pub fn read_job(path: &Path) -> Result<JobConfig, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let value: serde_norway::Value =
        serde_norway::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
    let job = value.get("job").cloned().unwrap_or(value);
    serde_norway::from_value(job).map_err(|e| format!("{}: job section: {e}", path.display()))
}

/// Runs an operations command and prints its output.
pub fn ops(
    f: impl std::future::Future<Output = Result<String, sluice_cli::ops::OpsError>>,
) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(f) {
        Ok(out) => {
            println!("{}", out.trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::FAILURE
        }
    }
}
