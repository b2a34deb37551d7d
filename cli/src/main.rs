//! `sluice`: run the job locally, generate load into Kafka, verify exactly-once output, operate workers
//! (status, savepoints) and checkpoint stores, and query the audit table. This file holds the command line's
//! top level and its dispatch; each subcommand group's arguments and handler live in `commands/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

use commands::audit::AuditCommand;
use commands::checkpoints::CheckpointsCommand;
use commands::produce::ProduceArgs;
use commands::verify::VerifyArgs;
use commands::workers::WorkerArgs;

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

// mimalloc rather than glibc's malloc: the per-record work allocates small, short-lived buffers (decoded
// events, encoded state, output JSON), and in a profile of a drain glibc's malloc/free took ~17 % of the
// worker's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    sluice_worker::logging::init();
    match Cli::parse().command {
        Command::Run { config } => commands::local::run(&config),
        Command::Produce(a) => commands::produce::run(a),
        Command::Verify(a) => commands::verify::run(a),
        Command::Status(w) => commands::workers::status(w),
        Command::Savepoint { workers, id, stop } => commands::workers::savepoint(workers, id, stop),
        Command::Checkpoints { command } => commands::checkpoints::run(command),
        Command::Audit { command } => commands::audit::run(command),
    }
}
