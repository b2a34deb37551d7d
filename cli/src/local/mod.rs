//! Embedded local mode (`sluice run job.yaml`): the fraud job with no cluster, running the same code as the
//! Kafka worker — `PartitionTask` per partition over RocksDB state, local checkpoints, recovery by checkpoint
//! restore plus replay — with the deterministic generator as input and an exactly-once file sink as output.
//!
//! Output layout (`local.outputDir`):
//! - `<kind>/<seq:020>.jsonl` for kind in decisions, alerts, dlq, late: one file per commit and kind;
//! - `commits.log`: one JSON line per commit (seq, every partition's next offsets, files, counts) — the commit
//!   point, like a Kafka transaction marker: a file counts only once a complete line names it;
//! - `manifest.json`: the generator, event-time parameters and model the outputs were computed from.
//!
//! A run that stops anywhere (crash, kill, power loss) resumes from the last commit line on the next non-fresh
//! run, and the concatenated committed output equals that of an uninterrupted run, byte for byte.

mod commit_log;
mod config;
#[cfg(test)]
mod config_errors_tests;
#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod fresh_tests;
mod manifest;
#[cfg(test)]
mod oracle_tests;
mod progress;
mod resume;
mod runner;
mod sink;
mod source;
mod summary;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub use commit_log::{COMMIT_LOG, CommitEntry, OutputCounts, PartitionOffsets};
pub use config::{FieldError, LocalJob, LocalSettings};
pub use runner::{CrashPoint, RunOptions};
pub use summary::LocalSummary;

use manifest::Manifest;
use runner::RunLoop;
use sink::FileSink;
use sluice_worker::state::{RocksResources, StateError};
use sluice_worker::worker::task::TaskError;
use sluice_worker::worker::{WorkerError, job_params, load_model};

/// Why a local run failed. Every variant names the file or field involved and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("reading job file {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "job file {path}: {}{source} (examples/fraud-local.yaml documents every field)",
        .field.as_ref().map(|f| format!("field {f}: ")).unwrap_or_default()
    )]
    ParseConfig {
        path: PathBuf,
        /// The offending field when serde_norway's message does not name it.
        field: Option<String>,
        #[source]
        source: serde_norway::Error,
    },
    #[error("job file {path} is invalid:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    InvalidConfig {
        path: PathBuf,
        problems: Vec<FieldError>,
    },
    #[error("job: {0}")]
    Job(#[from] WorkerError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "commit log {path}, line {line}: {reason}; a crash only ever tears the last line, so the log was damaged \
         otherwise; fix: repair or remove the line, or set local.fresh: true to start over"
    )]
    CorruptCommitLog {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error(
        "committed output file {path} is missing, so the output is incomplete; fix: restore it, or set \
         local.fresh: true to start over"
    )]
    MissingOutput { path: PathBuf },
    #[error(
        "{section} differs from what the outputs recorded in {path} were computed with, so resuming would mix two \
         jobs; fix: restore the previous settings, or set local.fresh: true to start over"
    )]
    JobChanged {
        path: PathBuf,
        section: &'static str,
    },
    #[error(
        "the generated input does not match the committed offsets: {reason}; fix: set local.fresh: true"
    )]
    SourceMismatch { reason: String },
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error("partition {partition} state: {source}")]
    State {
        partition: i32,
        #[source]
        source: StateError,
    },
    #[error("encoding JSON: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("installing a signal handler: {0}")]
    Signal(#[source] std::io::Error),
    #[error("simulated crash after {commits} commits of this run (fault injection)")]
    SimulatedCrash { commits: u64 },
}

/// Maps an I/O error on `path` to [`LocalError::Io`] (for `map_err`).
fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> LocalError + 'a {
    move |source| LocalError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Runs the job described by the local job file at `path`, with a live progress line on stderr and the summary
/// on stdout. The first SIGINT/SIGTERM stops after committing what was processed; a second one exits at once
/// (safe too: the next non-fresh run resumes from the last commit).
pub fn run_file(path: &Path) -> Result<LocalSummary, LocalError> {
    let job = LocalJob::load(path)?;
    let opts = RunOptions {
        progress: true,
        ..RunOptions::default()
    };
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&opts.stop))
            .map_err(LocalError::Signal)?;
        signal_hook::flag::register(sig, Arc::clone(&opts.stop)).map_err(LocalError::Signal)?;
    }
    let summary = run(&job, &opts)?;
    println!("{summary}");
    Ok(summary)
}

/// Runs a parsed job: prepares the output directory, recovers every partition to the last commit, then
/// processes the rest of the generated input.
pub fn run(job: &LocalJob, opts: &RunOptions) -> Result<LocalSummary, LocalError> {
    let started = Instant::now();
    let params = job_params(&job.job)?;
    let model = load_model(&job.job)?;
    if job.local.fresh {
        resume::wipe(job)?;
    }
    let out_dir = Path::new(&job.local.output_dir);
    let (sink, removed) = FileSink::open(out_dir)?;
    let manifest = Manifest {
        generator: job.generator.clone(),
        params,
        model: model.clone(),
    };
    manifest.check_or_write(out_dir, sink.last_commit().is_some())?;
    if sink.last_commit().is_none() {
        // Nothing committed means no state is needed; checkpoints left by another job (say the output directory
        // was deleted by hand) must never be restored into this one's history.
        resume::wipe_state(job)?;
    }

    let resources = RocksResources::new(
        job.job.state.block_cache_mib,
        job.job.state.write_buffer_mib,
    )
    .with_read_cache(
        job.job.state.read_cache_mib,
        usize::try_from(job.generator.partitions).unwrap_or(1),
    );
    let resumed = resume::resume(job, &resources, params, &model, sink.last_commit())?;
    let resumed_after = sink.last_commit().map(|c| c.seq);
    if let Some(seq) = resumed_after {
        tracing::info!(
            commit = seq,
            records = sink.totals().records,
            replayed = resumed.replayed,
            checkpoints = ?resumed.checkpoints,
            removed_uncommitted_files = removed,
            "resumed from the commit log"
        );
    }
    let replayed = resumed.replayed;
    let outcome = RunLoop::new(job, opts, resumed.tasks, resumed.source, sink).run()?;

    let t = outcome.totals;
    Ok(LocalSummary {
        records: t.records,
        decisions: t.decisions,
        approve: t.approve,
        review: t.review,
        decline: t.decline,
        alerts: t.alerts,
        dlq: t.dlq,
        late: t.late,
        processed: outcome.processed,
        replayed,
        resumed_after_commit: resumed_after,
        removed_uncommitted_files: removed,
        commits: outcome.commits,
        checkpoints: outcome.checkpoints,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        p99_commit_latency_us: outcome.latency.quantile_us(0.99),
        interrupted: outcome.interrupted,
        output_dir: job.local.output_dir.clone(),
    })
}
