//! `sluice`: run the job locally, generate load into Kafka, verify exactly-once output.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sluice_crds::JobConfig;
use sluice_runtime::generator::GeneratorConfig;
use sluice_runtime::worker::{job_params, load_model};

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

fn main() -> ExitCode {
    sluice_runtime::logging::init();
    match Cli::parse().command {
        Command::Run { config } => match sluice_runtime::local::run_file(&config) {
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
    match sluice_runtime::produce::produce(&a.bootstrap, &topics, generator, a.rate, |n| {
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
    let (params, model) = match (job_params(&job), load_model(&job)) {
        (Ok(p), Ok(m)) => (p, m),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("sluice verify: {e}");
            return ExitCode::from(2);
        }
    };
    match sluice_runtime::verify::verify(&a.bootstrap, &job, &params, &model) {
        Ok(report) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                println!(
                    "inputs {} (unprocessed {}), decisions {}/{} expected, duplicates {}, missing {}, unexpected {}, mismatched {}, dlq {}/{}, late {}/{}",
                    report.input_records,
                    report.unprocessed_records,
                    report.actual_decisions,
                    report.expected_decisions,
                    report.duplicate_decisions,
                    report.missing_decisions,
                    report.unexpected_decisions,
                    report.mismatched_decisions,
                    report.actual_dlq,
                    report.expected_dlq,
                    report.actual_late,
                    report.expected_late
                );
                for e in report.progress_errors.iter().chain(&report.examples) {
                    println!("  {e}");
                }
            }
            if report.ok() {
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
