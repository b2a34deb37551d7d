//! `sluice produce`: generated events into the Kafka input topics.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sluice_generator::GeneratorConfig;

use sluice_cli::kafka_connection::KafkaConnection;

use super::read_job;

#[derive(Args)]
pub struct ProduceArgs {
    #[arg(long, env = "SLUICE_KAFKA_BOOTSTRAP")]
    bootstrap: String,
    /// Client properties for a secured cluster (`security.protocol`, `sasl.*`, `ssl.*`), one `key=value` per
    /// line: the file Kafka's own tools take as `--command-config`.
    #[arg(long, env = "SLUICE_KAFKA_COMMAND_CONFIG")]
    command_config: Option<PathBuf>,
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

/// Produces the generated input; exit code 2 when the job file cannot be read.
pub fn run(a: ProduceArgs) -> ExitCode {
    let conn = match KafkaConnection::new(&a.bootstrap, a.command_config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice produce: {e}");
            return ExitCode::from(2);
        }
    };
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
    match sluice_cli::produce::produce(&conn, &topics, generator, a.rate, |n| {
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
