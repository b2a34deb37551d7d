//! The local-checkpoint thread: cuts the RocksDB checkpoints of every owned partition (memtable flush + hard
//! links) while the processing thread goes on, then hands them to the snapshot service for upload.
//!
//! The processing thread's part of a checkpoint is only collecting [`CheckpointSource`] handles and sending
//! them here. Each partition's live DB carries its input position inside the committed write batches, so the
//! checkpoint says itself which committed transaction it ends at, however far processing got meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sluice_api::control::SnapshotInfo;
use sluice_api::manifest::SnapshotKind;

use super::task::CheckpointSource;
use crate::crash_points;
use crate::metrics::Metrics;
use crate::snapshot::service::{PartRef, SnapshotJob, SnapshotService};

/// One snapshot to cut locally (and then upload, when a store is configured).
pub struct LocalRequest {
    pub kind: SnapshotKind,
    pub id: String,
    pub sources: Vec<CheckpointSource>,
    pub requested_at: Instant,
    pub done: Option<Sender<SnapshotInfo>>,
}

/// Handle of the checkpoint thread, owned by the processing loop's `Snapshotter`.
pub struct Checkpointer {
    tx: Sender<LocalRequest>,
    in_flight: Arc<AtomicBool>,
    /// A local checkpoint that failed (disk full, RocksDB error): fatal, reported to the loop.
    failure: Arc<Mutex<Option<String>>>,
}

impl Checkpointer {
    pub fn start(
        service: Option<SnapshotService>,
        metrics: Arc<Metrics>,
        retain: usize,
    ) -> std::io::Result<Checkpointer> {
        let (tx, rx) = std::sync::mpsc::channel();
        let in_flight = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(Mutex::new(None));
        let worker = Worker {
            service,
            metrics,
            retain,
            in_flight: Arc::clone(&in_flight),
            failure: Arc::clone(&failure),
        };
        std::thread::Builder::new()
            .name("sluice-checkpoint".into())
            .spawn(move || worker.run(rx))?;
        Ok(Checkpointer {
            tx,
            in_flight,
            failure,
        })
    }

    /// True while a request is being cut (one at a time, like the upload).
    pub fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Why the last local checkpoint failed, if one did.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|g| g.clone())
    }

    /// Hands a request over; returns at once.
    pub fn submit(&self, req: LocalRequest) {
        self.in_flight.store(true, Ordering::Release);
        if self.tx.send(req).is_err() {
            self.in_flight.store(false, Ordering::Release);
            self.fail("the checkpoint thread is gone".into());
        }
    }

    fn fail(&self, why: String) {
        if let Ok(mut g) = self.failure.lock() {
            *g = Some(why);
        }
    }
}

struct Worker {
    service: Option<SnapshotService>,
    metrics: Arc<Metrics>,
    retain: usize,
    in_flight: Arc<AtomicBool>,
    failure: Arc<Mutex<Option<String>>>,
}

impl Worker {
    fn run(self, rx: Receiver<LocalRequest>) {
        while let Ok(req) = rx.recv() {
            let started = Instant::now();
            match self.cut(&req.sources) {
                Ok(parts) => {
                    self.metrics
                        .checkpoint_local
                        .observe(started.elapsed().as_secs_f64());
                    tracing::debug!(id = %req.id, took_ms = started.elapsed().as_millis(), "local checkpoints cut");
                    if let Some(svc) = &self.service {
                        let job = SnapshotJob {
                            kind: req.kind,
                            id: req.id,
                            parts,
                            requested_at: req.requested_at,
                            done: req.done,
                        };
                        // Marks the service busy before this thread stops being so: no gap for a second one.
                        if let Err(e) = svc.submit(job) {
                            tracing::error!(error = %e, "could not hand a snapshot to the snapshot service");
                        }
                    }
                }
                Err(why) => {
                    tracing::error!(id = %req.id, error = %why, "local checkpoint failed");
                    if let Ok(mut g) = self.failure.lock() {
                        *g = Some(why);
                    }
                }
            }
            self.in_flight.store(false, Ordering::Release);
        }
    }

    fn cut(&self, sources: &[CheckpointSource]) -> Result<Vec<PartRef>, String> {
        let shared = self.service.as_ref().map(|s| Arc::clone(&s.shared));
        let mut parts = Vec::with_capacity(sources.len());
        for src in sources {
            crash_points::reach("during_checkpoint");
            let p = src.partition;
            let (meta, watermark_ms) = src
                .take(self.retain, |seq| {
                    shared.as_ref().is_some_and(|s| s.is_pinned(p, seq))
                })
                .map_err(|e| e.to_string())?;
            parts.push(PartRef {
                partition: p,
                seq: meta.seq,
                input_offsets: meta.offsets,
                txn_seq: meta.txn_seq,
                watermark_ms,
            });
        }
        Ok(parts)
    }
}
