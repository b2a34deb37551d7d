//! `sluice status` and `sluice savepoint`: workers through their control APIs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sluice_cli::ops::{OpsError, worker_cmds};

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
    /// The job's control CA bundle (`ca.crt` of the Secret `<job>-control-tls`): each worker, given as
    /// `https://<ip>:<port>` (a pod IP or a port-forward's 127.0.0.1), must present the certificate of the
    /// job named by `--job`, as the operator requires.
    #[arg(long, requires = "job")]
    ca_file: Option<PathBuf>,
    /// NAMESPACE/NAME of the StreamJob whose certificate the workers must present (with `--ca-file`).
    #[arg(long, requires = "ca_file")]
    job: Option<String>,
}

impl WorkerArgs {
    /// The token and, with `--ca-file`, the job's TLS settings.
    fn connect(&self) -> Result<worker_cmds::Connect, OpsError> {
        let token = worker_cmds::read_token(self.bearer_file())?;
        let job_tls = match (&self.ca_file, &self.job) {
            (Some(ca), Some(job)) => {
                let Some((namespace, name)) = job.split_once('/') else {
                    return Err(OpsError::Failed(format!(
                        "--job {job:?}: expected NAMESPACE/NAME, e.g. fraud/scoring"
                    )));
                };
                let pem = std::fs::read(ca).map_err(|e| {
                    OpsError::Failed(format!("reading --ca-file {}: {e}", ca.display()))
                })?;
                Some((pem, namespace.to_string(), name.to_string()))
            }
            _ => None,
        };
        Ok(worker_cmds::Connect { token, job_tls })
    }

    /// The token file to send: the OIDC token when given, else the job's token.
    fn bearer_file(&self) -> Option<&std::path::Path> {
        self.oidc_token_file
            .as_deref()
            .or(self.token_file.as_deref())
    }
}

/// Prints the status of every worker.
pub fn status(w: WorkerArgs) -> ExitCode {
    ops(async move { worker_cmds::status(&w.workers, &w.connect()?).await })
}

/// Takes one savepoint across the workers (`id`, or a generated one), stopping them after it with `stop`.
pub fn savepoint(workers: WorkerArgs, id: Option<String>, stop: bool) -> ExitCode {
    ops(
        async move { worker_cmds::savepoint(&workers.workers, &workers.connect()?, id, stop).await },
    )
}
