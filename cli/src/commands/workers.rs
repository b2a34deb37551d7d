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
    /// File holding the job's control API bearer token.
    #[arg(
        long,
        env = "SLUICE_CONTROL_TOKEN_FILE",
        conflicts_with = "oidc_token_file"
    )]
    token_file: Option<PathBuf>,
    /// File holding your OIDC access token (a JWT from the issuer in `spec.controlApi.oidc`), re-read on
    /// every run so a refreshed token is picked up.
    #[arg(long, env = "SLUICE_OIDC_TOKEN_FILE")]
    oidc_token_file: Option<PathBuf>,
}

impl WorkerArgs {
    /// The token file to send: the OIDC token when given, else the job's token.
    fn bearer_file(&self) -> Option<&std::path::Path> {
        self.oidc_token_file
            .as_deref()
            .or(self.token_file.as_deref())
    }
}

/// Prints the status of every worker.
pub fn status(w: WorkerArgs) -> ExitCode {
    ops(async move {
        let token = worker_cmds::read_token(w.bearer_file())?;
        worker_cmds::status(&w.workers, token).await
    })
}

/// Takes one savepoint across the workers (`id`, or a generated one), stopping them after it with `stop`.
pub fn savepoint(workers: WorkerArgs, id: Option<String>, stop: bool) -> ExitCode {
    ops(async move {
        let token = worker_cmds::read_token(workers.bearer_file())?;
        worker_cmds::savepoint(&workers.workers, token, id, stop).await
    })
}
