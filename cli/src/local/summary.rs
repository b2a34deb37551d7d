//! The result of a local run, printed on stdout by `sluice run`.

use std::fmt;

use serde::Serialize;

/// Summary of a local run. Output counts are what is committed in `output_dir` (including earlier runs when
/// this one resumed); the rest describes this run.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct LocalSummary {
    /// Input records covered by the committed output.
    pub records: u64,
    pub decisions: u64,
    pub approve: u64,
    pub review: u64,
    pub decline: u64,
    pub alerts: u64,
    pub dlq: u64,
    pub late: u64,
    /// Input records this run processed and committed (replay excluded).
    pub processed: u64,
    /// Records reprocessed on start to rebuild state after an earlier run stopped (output discarded).
    pub replayed: u64,
    /// The commit this run resumed after (`None`: started from the beginning).
    pub resumed_after_commit: Option<u64>,
    /// Uncommitted data files of a crashed earlier run that were deleted on start.
    pub removed_uncommitted_files: u64,
    /// Commits (commit-log lines) written by this run.
    pub commits: u64,
    /// Checkpoint rounds (one checkpoint per partition) taken by this run.
    pub checkpoints: u64,
    pub elapsed_ms: u64,
    /// p99 of wall-clock time from generating a record to its commit line being fsynced.
    pub p99_commit_latency_us: Option<u64>,
    /// Stopped by a signal before the generator was exhausted (everything processed was committed).
    pub interrupted: bool,
    pub output_dir: String,
}

impl LocalSummary {
    /// Input records processed per second of wall-clock time in this run.
    pub fn events_per_sec(&self) -> f64 {
        let secs = self.elapsed_ms as f64 / 1000.0;
        if secs > 0.0 {
            self.processed as f64 / secs
        } else {
            0.0
        }
    }
}

impl fmt::Display for LocalSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.interrupted {
            "interrupted (all processed input committed)"
        } else {
            "done"
        };
        writeln!(f, "sluice run: {status}")?;
        if let Some(seq) = self.resumed_after_commit {
            writeln!(
                f,
                "  resumed      after commit {seq}; replayed {} records to rebuild state; removed {} uncommitted files",
                self.replayed, self.removed_uncommitted_files
            )?;
        }
        writeln!(f, "  records      {}", self.records)?;
        writeln!(
            f,
            "  decisions    {} (APPROVE {}, REVIEW {}, DECLINE {})",
            self.decisions, self.approve, self.review, self.decline
        )?;
        writeln!(f, "  alerts       {}", self.alerts)?;
        writeln!(f, "  dlq          {}", self.dlq)?;
        writeln!(f, "  late         {}", self.late)?;
        writeln!(f, "  commits      {}", self.commits)?;
        writeln!(f, "  checkpoints  {}", self.checkpoints)?;
        let p99 = self.p99_commit_latency_us.map_or_else(
            || "-".to_string(),
            |us| format!("{:.1} ms", us as f64 / 1000.0),
        );
        writeln!(
            f,
            "  elapsed      {:.2} s ({} records processed, {:.0} events/s, p99 ingest→commit {p99})",
            self.elapsed_ms as f64 / 1000.0,
            self.processed,
            self.events_per_sec()
        )?;
        write!(
            f,
            "  outputs      {0}/{{decisions,alerts,dlq,late}}/*.jsonl (committed files are listed in {0}/commits.log)",
            self.output_dir
        )
    }
}
