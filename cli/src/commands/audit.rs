//! `sluice audit`: explain, reproduce and compact through the Iceberg audit table of decisions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use sluice_cli::ops::audit_cmds;

use super::{ops, read_job};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// The decision for one transaction and the feature vector it was scored on, with time travel.
    Explain {
        /// The worker or job config naming the audit table.
        #[arg(long)]
        job: PathBuf,
        #[arg(long)]
        txn_id: String,
        /// Read this Iceberg snapshot (time travel by id).
        #[arg(long)]
        snapshot_id: Option<i64>,
        /// Read the snapshot that was current at this time (Unix ms).
        #[arg(long, conflicts_with = "snapshot_id")]
        as_of_ms: Option<i64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Recompute a decision from the nearest snapshot before it and the recorded input, and compare it byte
    /// for byte with the audit table's row.
    Reproduce {
        /// The worker or job config (Kafka, checkpoint store, audit table, model).
        #[arg(long)]
        job: PathBuf,
        #[arg(long)]
        txn_id: String,
        /// Scratch directory for the restored state (default: a new directory under the system temp dir,
        /// removed afterwards).
        #[arg(long)]
        scratch_dir: Option<PathBuf>,
    },
    /// Rewrite each event day's small data files into few large ones (one Iceberg snapshot per day, rows
    /// and offsets unchanged). Runs PyIceberg: make its venv with audit/compact/venv.sh or set
    /// SLUICE_PYICEBERG_PYTHON.
    Compact {
        /// The worker or job config naming the audit table.
        #[arg(long)]
        job: PathBuf,
        /// Compact only days with at least this many data files.
        #[arg(long, default_value_t = 8)]
        min_files: u32,
        /// Compact only this event day (YYYY-MM-DD, UTC).
        #[arg(long)]
        day: Option<String>,
    },
}

pub fn run(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Reproduce {
            job,
            txn_id,
            scratch_dir,
        } => reproduce(&job, &txn_id, scratch_dir),
        AuditCommand::Explain {
            job,
            txn_id,
            snapshot_id,
            as_of_ms,
            json,
        } => match read_job(&job) {
            Ok(job) => ops(async move {
                let as_of = audit_cmds::as_of(snapshot_id, as_of_ms);
                audit_cmds::explain(&job, &txn_id, as_of, json).await
            }),
            Err(e) => {
                eprintln!("sluice: {e}");
                ExitCode::FAILURE
            }
        },
        AuditCommand::Compact {
            job,
            min_files,
            day,
        } => match read_job(&job) {
            Ok(job) => ops(async move { audit_cmds::compact(&job, min_files, day.as_deref()) }),
            Err(e) => {
                eprintln!("sluice: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Prints the reproduction report: exit code 0 when the decision is byte-identical, 3 when it differs, 1 when
/// it could not be tried.
fn reproduce(job: &Path, txn_id: &str, scratch_dir: Option<PathBuf>) -> ExitCode {
    let job = match read_job(job) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("sluice: {e}");
            return ExitCode::FAILURE;
        }
    };
    let owned = scratch_dir.is_none();
    let scratch = scratch_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("sluice-reproduce-{}", std::process::id()))
    });
    let result = sluice_cli::ops::reproduce::reproduce(&job, txn_id, &scratch);
    if owned {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    match result {
        Ok(found) => {
            print!("{}", found.report);
            if found.identical {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::FAILURE
        }
    }
}
