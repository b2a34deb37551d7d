//! `sluice-bench`: measures Sluice on this machine. Each subcommand writes a JSON result file and prints a
//! table; nothing here asserts speed.
//!
//!   sluice-bench run [--quick] [--flink | --no-flink] [--authorizations N] [--latency-rate R]
//!                    [--latency-secs S] [--out FILE]
//!       the Sluice worker against the ceiling (a bare transactional identity pipe) and the Apache Flink peer
//!       (`bench/flink-fraud`), on the same broker and the same pre-loaded topics;
//!   sluice-bench checkpoint [--cards N] [--partitions P] [--quick] [--out FILE]
//!       checkpoint pause, duration and uploaded bytes (full, then after 1 % of the keys changed) on the S3
//!       store, and kill -9 → first committed decision with local state and with a full S3 restore;
//!   sluice-bench commit-probe [--gaps-ms 0,2,3,5,8] [--library-commit] [--out FILE]
//!       the cost of one Kafka transaction, step by step, by gap between a commit and the next record;
//!   sluice-bench soak [--minutes 60] [--rate 12000] [--kill-every-secs 180] [--out FILE] [--no-plots]
//!       the job for an hour with a worker killed every few minutes: RSS, lag and checkpoint durations over
//!       time, then `sluice verify` (fails on any duplicate, loss or mismatch);
//!   sluice-bench pipe ...        (internal: the ceiling process)

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use sluice_bench::checkpoint::{CheckpointArgs, run_checkpoint};
use sluice_bench::commit_probe::{CommitProbeArgs, run_commit_probe};
use sluice_bench::pipe::{PipeConfig, run_pipe};
use sluice_bench::soak::{SoakArgs, run_soak};
use sluice_bench::throughput::{RunArgs, run};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Run(RunArgs),
    Checkpoint(CheckpointArgs),
    CommitProbe(CommitProbeArgs),
    Soak(SoakArgs),
    Pipe(PipeArgs),
}

#[derive(Args)]
struct PipeArgs {
    #[arg(long)]
    bootstrap: String,
    #[arg(long, value_delimiter = ',')]
    inputs: Vec<String>,
    #[arg(long)]
    output: String,
    #[arg(long)]
    partitions: i32,
    #[arg(long)]
    group: String,
    #[arg(long)]
    txn_id: String,
    #[arg(long, default_value_t = 100)]
    commit_interval_ms: u64,
}

fn main() -> ExitCode {
    let result = match Cli::parse().cmd {
        Cmd::Pipe(a) => return pipe_main(a),
        Cmd::Run(a) => run(a),
        Cmd::Checkpoint(a) => run_checkpoint(a),
        Cmd::CommitProbe(a) => run_commit_probe(a),
        Cmd::Soak(a) => run_soak(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn pipe_main(a: PipeArgs) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop));
    let cfg = PipeConfig {
        bootstrap: a.bootstrap,
        inputs: a.inputs,
        output: a.output,
        partitions: a.partitions,
        group: a.group,
        transactional_id: a.txn_id,
        commit_interval: Duration::from_millis(a.commit_interval_ms),
        commit_max_records: 10_000,
    };
    match run_pipe(&cfg, stop) {
        Ok(n) => {
            eprintln!("pipe copied {n} records");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
