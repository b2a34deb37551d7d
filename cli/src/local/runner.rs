//! The local run loop — the Kafka worker's transaction loop with the generator as input and the file sink as
//! output: process records in generator order through each partition's `PartitionTask`, and every
//! `commitInterval` (or `commitMaxRecords` records) commit the buffered outputs with every partition's next
//! offsets; right after a commit, checkpoint state if `checkpointInterval` has passed.
//!
//! The wall clock decides only *when* to commit, checkpoint and redraw, never *what* is output: the commit
//! boundaries vary from run to run, the concatenated committed output does not.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::LocalError;
use super::commit_log::{OutputCounts, PartitionOffsets};
use super::config::LocalJob;
use super::progress::{LatencyHistogram, ProgressLine, Snapshot};
use super::sink::FileSink;
use super::source::LocalSource;
use sluice_worker::worker::task::PartitionTask;

/// How a run is driven (the CLI uses the defaults plus a signal-driven `stop`).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Draw the live progress line on stderr.
    pub progress: bool,
    /// Set to stop after committing what has been processed (SIGINT/SIGTERM in the CLI).
    pub stop: Arc<AtomicBool>,
    /// Fault injection for crash tests: end the run abruptly, without a final commit or checkpoint.
    pub crash: Option<CrashPoint>,
}

/// Where an injected crash happens (commit numbers count this run's commits from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// After commit `n` is durable, before the checkpoint that may follow it.
    AfterCommit(u64),
    /// After commit `n`'s data files are durable, before its commit-log line is written.
    BeforeCommitLine(u64),
}

/// What the loop did, for the summary.
#[derive(Debug, Default)]
pub struct LoopOutcome {
    pub processed: u64,
    pub commits: u64,
    pub checkpoints: u64,
    pub interrupted: bool,
    pub latency: LatencyHistogram,
    /// Everything committed in the output directory at the end (earlier runs included).
    pub totals: OutputCounts,
}

/// The loop's working set.
pub struct RunLoop<'a> {
    pub job: &'a LocalJob,
    pub opts: &'a RunOptions,
    pub tasks: Vec<PartitionTask>,
    pub source: LocalSource,
    pub sink: FileSink,
    pub progress: ProgressLine,
    /// Wall-clock birth of each record in the open commit (latency metric only).
    pending_born: Vec<Instant>,
    open_since: Option<Instant>,
    last_checkpoint: Instant,
    last_checkpoint_done: Option<Instant>,
    uncheckpointed_commits: u64,
    out: LoopOutcome,
}

impl<'a> RunLoop<'a> {
    pub fn new(
        job: &'a LocalJob,
        opts: &'a RunOptions,
        tasks: Vec<PartitionTask>,
        source: LocalSource,
        sink: FileSink,
    ) -> RunLoop<'a> {
        let now = Instant::now();
        RunLoop {
            job,
            opts,
            tasks,
            source,
            sink,
            progress: ProgressLine::new(opts.progress, now),
            pending_born: Vec::new(),
            open_since: None,
            last_checkpoint: now,
            last_checkpoint_done: None,
            uncheckpointed_commits: 0,
            out: LoopOutcome::default(),
        }
    }

    fn stopped(&self) -> bool {
        self.opts.stop.load(Ordering::Relaxed)
    }

    fn commit_interval(&self) -> Duration {
        self.job.job.commit_interval.as_std()
    }

    fn commit_due(&self, now: Instant) -> bool {
        self.open_since
            .is_some_and(|t| now.duration_since(t) >= self.commit_interval())
    }

    /// Runs until the generator is exhausted or `stop` is set, then commits what is open and checkpoints.
    pub fn run(mut self) -> Result<LoopOutcome, LocalError> {
        let max_records = u64::from(self.job.job.commit_max_records);
        let started = Instant::now();
        let mut outputs = Vec::new();
        loop {
            self.pace(started)?;
            if self.stopped() {
                self.out.interrupted = true;
                break;
            }
            let Some(rec) = self.source.next_record()? else {
                break;
            };
            let born = Instant::now();
            let p = usize::try_from(rec.partition()).unwrap_or(usize::MAX);
            let task = self
                .tasks
                .get_mut(p)
                .ok_or_else(|| LocalError::SourceMismatch {
                    reason: format!(
                        "record {} belongs to unknown partition {}",
                        rec.index,
                        rec.partition()
                    ),
                })?;
            task.process(
                rec.topic(),
                rec.offset,
                Some(&rec.record.key),
                Some(&rec.record.value),
                &mut outputs,
            )?;
            for o in outputs.drain(..) {
                self.sink.push(&o)?;
            }
            self.sink.count_input();
            self.pending_born.push(born);
            self.open_since.get_or_insert(born);
            self.out.processed += 1;
            if self.sink.open_counts().records >= max_records || self.commit_due(born) {
                self.commit()?;
            }
            self.tick(born);
        }
        if self.sink.open_counts().records > 0 {
            self.commit()?;
        }
        // A final checkpoint makes the next (non-fresh) run resume without replay.
        if self.uncheckpointed_commits > 0 {
            self.checkpoint_all()?;
        }
        self.tick(Instant::now());
        self.progress.finish();
        self.out.totals = *self.sink.totals();
        Ok(self.out)
    }

    /// With `rate > 0`, waits until record number `processed` is due, committing on time while waiting.
    fn pace(&mut self, started: Instant) -> Result<(), LocalError> {
        let rate = self.job.local.rate;
        if rate == 0 {
            return Ok(());
        }
        let due = started + Duration::from_secs_f64(self.out.processed as f64 / f64::from(rate));
        loop {
            let now = Instant::now();
            if now >= due || self.stopped() {
                return Ok(());
            }
            if self.commit_due(now) {
                self.commit()?;
                continue;
            }
            let mut wake = due.min(now + Duration::from_millis(200));
            if let Some(t) = self.open_since {
                wake = wake.min(t + self.commit_interval());
            }
            std::thread::sleep(wake.saturating_duration_since(now));
            self.tick(Instant::now());
        }
    }

    fn tick(&mut self, now: Instant) {
        let snapshot = Snapshot {
            processed: self.out.processed,
            committed: self.sink.totals(),
            open: self.sink.open_counts(),
            commits: self.out.commits,
            last_checkpoint: self.last_checkpoint_done,
        };
        self.progress.tick(now, &snapshot);
    }

    /// Commits the open outputs with every partition's next offsets; checkpoints afterwards when due.
    fn commit(&mut self) -> Result<(), LocalError> {
        let offsets = self
            .tasks
            .iter()
            .map(|t| PartitionOffsets::new(t.partition(), t.next_offsets()))
            .collect();
        let staged = self.sink.stage(offsets)?;
        let n = self.out.commits + 1;
        if self.opts.crash == Some(CrashPoint::BeforeCommitLine(n)) {
            return Err(LocalError::SimulatedCrash { commits: n - 1 });
        }
        self.sink.publish(staged)?;
        let now = Instant::now();
        for born in self.pending_born.drain(..) {
            let latency = now.duration_since(born);
            self.out.latency.record(latency);
            self.progress.window.record(latency);
        }
        self.open_since = None;
        for task in &mut self.tasks {
            task.on_committed()?;
        }
        self.out.commits = n;
        self.uncheckpointed_commits += 1;
        if self.opts.crash == Some(CrashPoint::AfterCommit(n)) {
            return Err(LocalError::SimulatedCrash { commits: n });
        }
        if now.duration_since(self.last_checkpoint)
            >= self.job.job.state.checkpoint_interval.as_std()
        {
            self.checkpoint_all()?;
        }
        Ok(())
    }

    /// Checkpoints every partition at the just-committed offsets (so a checkpoint never runs ahead of a commit).
    fn checkpoint_all(&mut self) -> Result<(), LocalError> {
        let retain = usize::try_from(self.job.job.state.retained_checkpoints).unwrap_or(usize::MAX);
        for task in &mut self.tasks {
            let meta = task.checkpoint(retain, |_| false)?;
            tracing::debug!(partition = meta.partition, seq = meta.seq, offsets = ?meta.offsets, "checkpoint taken");
        }
        let now = Instant::now();
        self.last_checkpoint = now;
        self.last_checkpoint_done = Some(now);
        self.uncheckpointed_commits = 0;
        self.out.checkpoints += 1;
        Ok(())
    }
}
