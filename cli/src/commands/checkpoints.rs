//! `sluice checkpoints`: list a job's snapshots in a checkpoint store, or delete a savepoint.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use sluice_cli::ops::store_cmds;

use super::ops;

#[derive(Args)]
pub struct StoreArgs {
    /// Checkpoint store URI: s3://bucket/prefix or file:///dir.
    uri: String,
    /// The job (its transactionalIdPrefix).
    #[arg(long)]
    job: String,
    /// Custom S3 endpoint (MinIO, s3s-fs, …); credentials come from the standard AWS environment.
    #[arg(long, env = "SLUICE_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    #[arg(long, default_value = "us-east-1")]
    s3_region: String,
    /// Path-style addressing (default on when an endpoint is given).
    #[arg(long)]
    s3_virtual_hosted: bool,
}

impl StoreArgs {
    fn s3(&self) -> sluice_api::job_config::S3Options {
        sluice_api::job_config::S3Options {
            path_style: self.s3_endpoint.is_some() && !self.s3_virtual_hosted,
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            ..Default::default()
        }
    }
}

#[derive(Subcommand)]
pub enum CheckpointsCommand {
    /// List the job's checkpoints and savepoints.
    List(StoreArgs),
    /// Delete one savepoint (all its manifests and files).
    DeleteSavepoint {
        #[command(flatten)]
        store: StoreArgs,
        /// The savepoint id.
        #[arg(long)]
        id: String,
    },
}

pub fn run(command: CheckpointsCommand) -> ExitCode {
    match command {
        CheckpointsCommand::List(a) => {
            ops(async move { store_cmds::list(&a.uri, &a.s3(), &a.job).await })
        }
        CheckpointsCommand::DeleteSavepoint { store, id } => ops(async move {
            let n = store_cmds::delete_savepoint(&store.uri, &store.s3(), &store.job, &id).await?;
            Ok(format!("deleted savepoint {id}: {n} objects"))
        }),
    }
}
