//! When the loop snapshots: periodic checkpoints after a commit (skipped while the previous upload runs — one
//! at a time), savepoints on request, backoff after failures, and fail-fast past `tolerableFailedCheckpoints`.
//! Nothing of a checkpoint runs on the processing thread: it hands partition handles to the checkpoint thread
//! (`checkpointer.rs`), which cuts the local RocksDB checkpoints and passes them to the upload service.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_api::JobConfig;
use sluice_api::control::SnapshotInfo;
use sluice_api::manifest::SnapshotKind;

use super::checkpointer::{Checkpointer, LocalRequest};
use super::task::{PartitionTask, TaskError};
use crate::metrics::Metrics;
use crate::snapshot::service::SnapshotService;

/// Decides and performs snapshots for the loop.
pub struct Snapshotter {
    service: Option<SnapshotService>,
    checkpointer: Checkpointer,
    metrics: Arc<Metrics>,
    interval: Duration,
    next_due: Instant,
    tolerable: u32,
    seen_failures: u32,
    /// Savepoints accepted but not started (waiting for the previous upload).
    pending_savepoints: VecDeque<String>,
}

/// Why the worker must exit non-zero because of its snapshots.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotFailure {
    #[error(
        "{failures} consecutive checkpoints failed (tolerableFailedCheckpoints = {tolerable}); last error: {last}"
    )]
    TooMany {
        failures: u32,
        tolerable: u32,
        last: String,
    },
    /// The local state could not be checkpointed (disk, RocksDB): the state directory cannot be trusted.
    #[error("local checkpoint failed: {0}")]
    Local(String),
}

impl Snapshotter {
    pub fn new(
        job: &JobConfig,
        service: Option<SnapshotService>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Snapshotter> {
        let interval = job.state.checkpoint_interval.as_std();
        let retain = usize::try_from(job.state.retained_checkpoints)
            .unwrap_or(3)
            .max(1);
        let checkpointer = Checkpointer::start(service.clone(), Arc::clone(&metrics), retain)?;
        Ok(Snapshotter {
            service,
            checkpointer,
            metrics,
            interval,
            next_due: Instant::now() + interval,
            tolerable: job.state.tolerable_failed_checkpoints,
            seen_failures: 0,
            pending_savepoints: VecDeque::new(),
        })
    }

    pub fn has_service(&self) -> bool {
        self.service.is_some()
    }

    fn busy(&self) -> bool {
        self.checkpointer.busy() || self.service.as_ref().is_some_and(|s| s.shared.busy())
    }

    /// Checks the failure count; schedules a retry with backoff after a new failure.
    pub fn check_health(&mut self) -> Result<(), SnapshotFailure> {
        if let Some(why) = self.checkpointer.failure() {
            return Err(SnapshotFailure::Local(why));
        }
        let Some(svc) = &self.service else {
            return Ok(());
        };
        let failures = svc.shared.consecutive_failures();
        if failures > self.tolerable {
            return Err(SnapshotFailure::TooMany {
                failures,
                tolerable: self.tolerable,
                last: svc
                    .shared
                    .last_checkpoint()
                    .and_then(|i| i.error)
                    .unwrap_or_default(),
            });
        }
        if failures > self.seen_failures {
            // Exponential backoff from 1 s, never longer than the normal interval.
            let exp = failures.saturating_sub(1).min(16);
            let backoff = Duration::from_secs(1u64 << exp).min(self.interval);
            self.next_due = Instant::now() + backoff;
        }
        self.seen_failures = failures;
        Ok(())
    }

    /// Accepts a savepoint request (started at the next boundary when no upload runs).
    pub fn request_savepoint(&mut self, id: String) {
        self.pending_savepoints.push_back(id);
    }

    /// At a commit boundary: does the loop have snapshot work to do now?
    pub fn wants_boundary(&self) -> bool {
        !self.busy() && (!self.pending_savepoints.is_empty() || Instant::now() >= self.next_due)
    }

    /// Called right after a commit: starts a pending savepoint or a due checkpoint.
    pub fn after_commit(
        &mut self,
        tasks: &mut BTreeMap<i32, PartitionTask>,
    ) -> Result<(), TaskError> {
        if self.busy() {
            return Ok(());
        }
        if let Some(id) = self.pending_savepoints.pop_front() {
            self.start(tasks, SnapshotKind::Savepoint, id, None)?;
            return Ok(());
        }
        if Instant::now() >= self.next_due {
            self.checkpoint_now(tasks)?;
        }
        Ok(())
    }

    /// Takes a checkpoint now (the caller just committed). Returns its id.
    pub fn checkpoint_now(
        &mut self,
        tasks: &mut BTreeMap<i32, PartitionTask>,
    ) -> Result<String, TaskError> {
        self.next_due = Instant::now() + self.interval;
        let id = self
            .service
            .as_ref()
            .map_or_else(|| "local".to_string(), SnapshotService::next_checkpoint_id);
        self.start(tasks, SnapshotKind::Checkpoint, id.clone(), None)?;
        Ok(id)
    }

    /// Takes a savepoint now and waits for it (stop-with-savepoint). The caller just committed.
    pub fn savepoint_and_wait(
        &mut self,
        tasks: &mut BTreeMap<i32, PartitionTask>,
        id: String,
    ) -> Result<SnapshotInfo, String> {
        while self.busy() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        self.start(tasks, SnapshotKind::Savepoint, id, Some(tx))
            .map_err(|e| e.to_string())?;
        rx.recv()
            .map_err(|_| "the snapshot service stopped".to_string())
    }

    /// Hands the partitions to the checkpoint thread. The processing thread's whole pause is this call.
    fn start(
        &mut self,
        tasks: &mut BTreeMap<i32, PartitionTask>,
        kind: SnapshotKind,
        id: String,
        done: Option<std::sync::mpsc::Sender<SnapshotInfo>>,
    ) -> Result<(), TaskError> {
        let paused = Instant::now();
        let sources = tasks
            .values()
            .map(PartitionTask::checkpoint_source)
            .collect();
        self.checkpointer.submit(LocalRequest {
            kind,
            id,
            sources,
            requested_at: paused,
            done,
        });
        self.metrics
            .checkpoint_pause
            .observe(paused.elapsed().as_secs_f64());
        Ok(())
    }
}
