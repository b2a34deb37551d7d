//! `sluice`: run the job locally, generate load into Kafka, verify exactly-once output, and operate workers
//! (status, savepoints) and checkpoint stores.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sluice_api::JobConfig;
use sluice_cli::ops::{audit_cmds, store_cmds, worker_cmds};
use sluice_generator::GeneratorConfig;

#[derive(Parser)]
#[command(version, about = "Sluice: exactly-once fraud scoring")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the fraud job in embedded local mode (generator in, exactly-once files out; no cluster).
    Run {
        /// Local job file, e.g. examples/fraud-local.yaml.
        config: PathBuf,
    },
    /// Write generated events into the Kafka input topics at a fixed rate.
    Produce(ProduceArgs),
    /// Check the committed decisions against the oracle: one per txn_id, none lost, all equal.
    Verify(VerifyArgs),
    /// Show workers' status through their control APIs.
    Status(WorkerArgs),
    /// Take one savepoint across the given workers (same id), optionally stopping them after it.
    Savepoint {
        #[command(flatten)]
        workers: WorkerArgs,
        /// Savepoint id ([a-z0-9-]); default sp-<unix ms>.
        #[arg(long)]
        id: Option<String>,
        /// Stop each worker after its savepoint (stop-with-savepoint).
        #[arg(long)]
        stop: bool,
    },
    /// Inspect or prune a checkpoint store.
    Checkpoints {
        #[command(subcommand)]
        command: CheckpointsCommand,
    },
    /// Query the Iceberg audit table of decisions (`audit:` in the job config).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
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

#[derive(Args)]
struct WorkerArgs {
    /// Control API base URL of a worker, e.g. http://10.0.0.7:8080 (repeat for several workers).
    #[arg(long = "worker", required = true)]
    workers: Vec<String>,
    /// File holding the control API bearer token.
    #[arg(long, env = "SLUICE_CONTROL_TOKEN_FILE")]
    token_file: Option<PathBuf>,
}

#[derive(Args)]
struct StoreArgs {
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
enum CheckpointsCommand {
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

#[derive(Args)]
struct ProduceArgs {
    #[arg(long, env = "SLUICE_KAFKA_BOOTSTRAP")]
    bootstrap: String,
    /// Records per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 10_000)]
    cards: u64,
    #[arg(long, default_value_t = 100_000)]
    authorizations: u64,
    /// Input partitions (must match the topics).
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Optional job file whose `topics:` names to use (a worker config or a job config).
    #[arg(long)]
    job: Option<PathBuf>,
}

#[derive(Args)]
struct VerifyArgs {
    #[arg(long, env = "SLUICE_KAFKA_BOOTSTRAP")]
    bootstrap: String,
    /// The worker config (its `job:` section names topics, prefix, watermarks and model).
    #[arg(long)]
    job: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// A further scoring model (YAML) the job ran, e.g. before or after a model upgrade; repeatable. Each
    /// decision is checked against the oracle under the model version it names.
    #[arg(long = "model")]
    models: Vec<PathBuf>,
}

/// Reads a `job:` section from a worker config, or a bare job config.
fn read_job(path: &PathBuf) -> Result<JobConfig, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let value: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
    let job = value.get("job").cloned().unwrap_or(value);
    serde_yaml::from_value(job).map_err(|e| format!("{}: job section: {e}", path.display()))
}

// mimalloc rather than glibc's malloc: the per-record work allocates small, short-lived buffers (decoded
// events, encoded state, output JSON), and in a profile of a drain glibc's malloc/free took ~17 % of the
// worker's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    sluice_worker::logging::init();
    match Cli::parse().command {
        Command::Run { config } => match sluice_cli::local::run_file(&config) {
            Ok(summary) => {
                tracing::info!(?summary, "local run finished");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sluice run: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Produce(a) => produce(a),
        Command::Verify(a) => verify(a),
        Command::Status(w) => ops(async move {
            let token = worker_cmds::read_token(w.token_file.as_deref())?;
            worker_cmds::status(&w.workers, token).await
        }),
        Command::Savepoint { workers, id, stop } => ops(async move {
            let token = worker_cmds::read_token(workers.token_file.as_deref())?;
            worker_cmds::savepoint(&workers.workers, token, id, stop).await
        }),
        Command::Audit {
            command:
                AuditCommand::Reproduce {
                    job,
                    txn_id,
                    scratch_dir,
                },
        } => reproduce(&job, &txn_id, scratch_dir),
        Command::Audit {
            command:
                AuditCommand::Explain {
                    job,
                    txn_id,
                    snapshot_id,
                    as_of_ms,
                    json,
                },
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
        Command::Audit {
            command:
                AuditCommand::Compact {
                    job,
                    min_files,
                    day,
                },
        } => match read_job(&job) {
            Ok(job) => ops(async move { audit_cmds::compact(&job, min_files, day.as_deref()) }),
            Err(e) => {
                eprintln!("sluice: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Checkpoints { command } => match command {
            CheckpointsCommand::List(a) => {
                ops(async move { store_cmds::list(&a.uri, &a.s3(), &a.job).await })
            }
            CheckpointsCommand::DeleteSavepoint { store, id } => ops(async move {
                let n =
                    store_cmds::delete_savepoint(&store.uri, &store.s3(), &store.job, &id).await?;
                Ok(format!("deleted savepoint {id}: {n} objects"))
            }),
        },
    }
}

/// Runs an operations command and prints its output.
fn ops(
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

fn produce(a: ProduceArgs) -> ExitCode {
    let topics = match &a.job {
        Some(path) => match read_job(path) {
            Ok(j) => j.topics,
            Err(e) => {
                eprintln!("sluice produce: {e}");
                return ExitCode::from(2);
            }
        },
        None => Default::default(),
    };
    let generator = GeneratorConfig {
        seed: a.seed,
        cards: a.cards,
        authorizations: a.authorizations,
        partitions: a.partitions,
        ..GeneratorConfig::default()
    };
    match sluice_cli::produce::produce(&a.bootstrap, &topics, generator, a.rate, |n| {
        tracing::info!(records = n, "produced")
    }) {
        Ok(s) => {
            println!(
                "produced {} records ({} authorizations) in {:.1}s",
                s.records,
                s.authorizations,
                s.elapsed.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice produce: {e}");
            ExitCode::FAILURE
        }
    }
}

fn verify(a: VerifyArgs) -> ExitCode {
    let job = match read_job(&a.job) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("sluice verify: {e}");
            return ExitCode::from(2);
        }
    };
    let own = match sluice_cli::verify::job_model_yaml(&job) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("sluice verify: {e}");
            return ExitCode::from(2);
        }
    };
    let mut models = vec![own];
    for path in &a.models {
        match std::fs::read_to_string(path) {
            Ok(text) => models.push(text),
            Err(e) => {
                eprintln!("sluice verify: --model {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    match sluice_cli::verify::verify_models(&a.bootstrap, &job, &models) {
        Ok(report) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                println!(
                    "inputs {} (unprocessed {}), decisions {}/{} expected, duplicates {}, missing {}, unexpected {}, mismatched {}, alerts {}/{} (mismatched {}), dlq {}/{}, late {}/{}",
                    report.input_records,
                    report.unprocessed_records,
                    report.actual_decisions,
                    report.expected_decisions,
                    report.duplicate_decisions,
                    report.missing_decisions,
                    report.unexpected_decisions,
                    report.mismatched_decisions,
                    report.actual_alerts,
                    report.expected_alerts,
                    report.mismatched_alerts,
                    report.actual_dlq,
                    report.expected_dlq,
                    report.actual_late,
                    report.expected_late
                );
                for e in report
                    .model_switches
                    .iter()
                    .chain(&report.progress_errors)
                    .chain(&report.examples)
                {
                    println!("  {e}");
                }
            }
            let failures = report.failures();
            for failure in &failures {
                eprintln!("sluice verify: FAILED: {failure}");
            }
            if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("sluice verify: {e}");
            ExitCode::FAILURE
        }
    }
}

fn reproduce(job: &PathBuf, txn_id: &str, scratch_dir: Option<PathBuf>) -> ExitCode {
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
        Ok(report) => {
            print!("{report}");
            if report.contains("byte-identical") {
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
