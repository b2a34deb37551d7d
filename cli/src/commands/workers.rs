//! `sluice status` and `sluice savepoint`: workers through their control APIs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sluice_cli::ops::worker_cmds;

use super::ops;

#[derive(Args)]
pub struct WorkerArgs {
    /// Control API base URL of a worker, e.g. http://10.0.0.7:8080 (repeat for several workers).
    #[arg(long = "worker", required = true)]
    workers: Vec<String>,
    /// File holding the control API bearer token.
    #[arg(long, env = "SLUICE_CONTROL_TOKEN_FILE")]
    token_file: Option<PathBuf>,
}

/// Prints the status of every worker.
pub fn status(w: WorkerArgs) -> ExitCode {
    ops(async move {
        let token = worker_cmds::read_token(w.token_file.as_deref())?;
        worker_cmds::status(&w.workers, token).await
    })
}

/// Takes one savepoint across the workers (`id`, or a generated one), stopping them after it with `stop`.
pub fn savepoint(workers: WorkerArgs, id: Option<String>, stop: bool) -> ExitCode {
    ops(async move {
        let token = worker_cmds::read_token(workers.token_file.as_deref())?;
        worker_cmds::savepoint(&workers.workers, token, id, stop).await
    })
}
