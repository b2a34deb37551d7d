//! `sluice verify`: the committed outputs checked against the oracle.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sluice_api::JobConfig;
use sluice_cli::kafka_connection::KafkaConnection;
use sluice_cli::verify::VerifyReport;

use super::read_job;

#[derive(Args)]
pub struct VerifyArgs {
    #[arg(long, env = "SLUICE_KAFKA_BOOTSTRAP")]
    bootstrap: String,
    /// Client properties for a secured cluster (`security.protocol`, `sasl.*`, `ssl.*`), one `key=value` per
    /// line: the file Kafka's own tools take as `--command-config`.
    #[arg(long, env = "SLUICE_KAFKA_COMMAND_CONFIG")]
    command_config: Option<PathBuf>,
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

/// Verifies the job's outputs: exit code 0 when they agree with the oracle, 1 when not (or when they cannot be
/// read), 2 when the job file or a model cannot be read.
pub fn run(a: VerifyArgs) -> ExitCode {
    let conn = match KafkaConnection::new(&a.bootstrap, a.command_config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice verify: {e}");
            return ExitCode::from(2);
        }
    };
    let (job, models) = match job_and_models(&a) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("sluice verify: {e}");
            return ExitCode::from(2);
        }
    };
    match sluice_cli::verify::verify_models(&conn, &job, &models) {
        Ok(report) => {
            print_report(&report, a.json);
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

/// The job config and every model it ran: its own first, then each `--model` file's text.
fn job_and_models(a: &VerifyArgs) -> Result<(JobConfig, Vec<String>), String> {
    let job = read_job(&a.job)?;
    let own = sluice_cli::verify::job_model_yaml(&job).map_err(|e| e.to_string())?;
    let mut models = vec![own];
    for path in &a.models {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--model {}: {e}", path.display()))?;
        models.push(text);
    }
    Ok((job, models))
}

/// The report on stdout: pretty JSON, or one summary line followed by the model switches, progress errors and
/// examples indented.
fn print_report(report: &VerifyReport, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
        return;
    }
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
