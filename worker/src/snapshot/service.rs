//! The background snapshot service: takes local checkpoints handed over by the processing loop and makes them
//! durable (upload, manifest, retention, GC) on the async runtime, so the loop never waits for the network.
//! One snapshot at a time (like Flink's max concurrent checkpoints = 1); the local checkpoint directories it
//! reads are pinned against local retention until it is done.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sluice_api::control::{SnapshotInfo, SnapshotState};
use sluice_api::manifest::SnapshotKind;
use tokio::sync::mpsc;

use super::files::HashCache;
use super::gc::{GcInput, plan};
use super::restore::checkpoint_manifests;
use super::upload::{LocalPart, UploadRequest, upload};
use super::{SnapshotError, wall_clock_ms};
use crate::audit::AuditSink;
use crate::metrics::Metrics;
use crate::state::LocalCheckpoints;
use sluice_api::snapshot_layout::Layout;
use sluice_store::ObjectStore;

/// Objects younger than this are never garbage-collected: another worker may be uploading them for a
/// checkpoint whose manifest is not written yet.
const GC_GRACE_MS: i64 = 10 * 60 * 1000;

/// One partition's local checkpoint to make durable.
#[derive(Clone, Debug)]
pub struct PartRef {
    pub partition: i32,
    pub seq: u64,
    pub input_offsets: [i64; 3],
    pub txn_seq: u64,
    pub watermark_ms: Option<i64>,
}

/// A snapshot request from the processing loop.
pub struct SnapshotJob {
    pub kind: SnapshotKind,
    pub id: String,
    pub parts: Vec<PartRef>,
    /// When the processing loop asked for it.
    pub requested_at: Instant,
    /// Told the outcome (stop-with-savepoint waits on it).
    pub done: Option<std::sync::mpsc::Sender<SnapshotInfo>>,
}

/// State shared between the service, the loop and the control API.
#[derive(Default)]
pub struct SnapshotShared {
    busy: AtomicBool,
    pinned: Mutex<BTreeSet<(i32, u64)>>,
    consecutive_failures: AtomicU32,
    last_checkpoint: Mutex<Option<SnapshotInfo>>,
    last_savepoint: Mutex<Option<SnapshotInfo>>,
    savepoints: Mutex<BTreeMap<String, SnapshotInfo>>,
}

impl SnapshotShared {
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }
    pub fn is_pinned(&self, partition: i32, seq: u64) -> bool {
        self.pinned
            .lock()
            .map(|p| p.contains(&(partition, seq)))
            .unwrap_or(true)
    }
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures.load(Ordering::Acquire)
    }
    pub fn last_checkpoint(&self) -> Option<SnapshotInfo> {
        self.last_checkpoint.lock().ok().and_then(|g| g.clone())
    }
    pub fn last_savepoint(&self) -> Option<SnapshotInfo> {
        self.last_savepoint.lock().ok().and_then(|g| g.clone())
    }
    pub fn savepoint(&self, id: &str) -> Option<SnapshotInfo> {
        self.savepoints.lock().ok().and_then(|g| g.get(id).cloned())
    }
    fn record(&self, kind: SnapshotKind, info: &SnapshotInfo) {
        let slot = match kind {
            SnapshotKind::Checkpoint => &self.last_checkpoint,
            SnapshotKind::Savepoint => &self.last_savepoint,
        };
        if let Ok(mut g) = slot.lock() {
            *g = Some(info.clone());
        }
        if kind == SnapshotKind::Savepoint
            && let Ok(mut g) = self.savepoints.lock()
        {
            g.insert(info.id.clone(), info.clone());
        }
    }
}

/// Handle the loop uses to submit snapshots.
#[derive(Clone)]
pub struct SnapshotService {
    tx: mpsc::UnboundedSender<SnapshotJob>,
    pub shared: Arc<SnapshotShared>,
    next_checkpoint_seq: Arc<Mutex<u64>>,
}

/// Everything the service needs, fixed for the worker's life.
pub struct ServiceConfig {
    pub store: ObjectStore,
    pub layout: Layout,
    pub job: String,
    pub worker: String,
    pub model_version: String,
    pub state_root: PathBuf,
    pub retained: usize,
    pub concurrency: usize,
    /// The state lineage the snapshots belong to.
    pub lineage: Option<String>,
    /// The Iceberg audit table, appended to after every completed snapshot.
    pub audit: Option<AuditSink>,
}

impl SnapshotService {
    /// Starts the service on `rt`. Reads this worker's retained manifests first (incremental base, id sequence).
    pub fn start(
        rt: &tokio::runtime::Handle,
        cfg: ServiceConfig,
        metrics: Arc<Metrics>,
    ) -> Result<SnapshotService, SnapshotError> {
        let manifests = rt.block_on(checkpoint_manifests(&cfg.store, &cfg.layout))?;
        let mine: Vec<_> = manifests
            .values()
            .filter(|m| m.worker == cfg.worker)
            .collect();
        let next_seq = mine
            .iter()
            .filter_map(|m| {
                m.id.strip_prefix("chk-")
                    .and_then(|s| s.parse::<u64>().ok())
            })
            .max()
            .map_or(1, |s| s + 1);
        let existing: BTreeSet<String> = mine
            .iter()
            .flat_map(|m| m.objects().map(str::to_string))
            .collect();
        let parent = mine.iter().map(|m| m.id.clone()).max();
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(SnapshotShared::default());
        let runner = Runner {
            cfg,
            shared: Arc::clone(&shared),
            metrics,
            existing,
            parent,
            hashes: HashCache::default(),
        };
        rt.spawn(runner.run(rx));
        Ok(SnapshotService {
            tx,
            shared,
            next_checkpoint_seq: Arc::new(Mutex::new(next_seq)),
        })
    }

    /// A fresh checkpoint id for this worker.
    pub fn next_checkpoint_id(&self) -> String {
        let mut g = match self.next_checkpoint_seq.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let id = sluice_api::manifest::snapshot_id(SnapshotKind::Checkpoint, *g);
        *g += 1;
        id
    }

    /// Hands a snapshot over. Its local directories are pinned until the upload finishes.
    pub fn submit(&self, job: SnapshotJob) -> Result<(), SnapshotError> {
        if let Ok(mut pinned) = self.shared.pinned.lock() {
            pinned.extend(job.parts.iter().map(|p| (p.partition, p.seq)));
        }
        self.shared.busy.store(true, Ordering::Release);
        if job.kind == SnapshotKind::Savepoint {
            self.shared.record(
                SnapshotKind::Savepoint,
                &SnapshotInfo {
                    id: job.id.clone(),
                    state: SnapshotState::Pending,
                    location: None,
                    error: None,
                    uploaded_bytes: 0,
                    state_bytes: 0,
                    duration_ms: None,
                },
            );
        }
        self.tx.send(job).map_err(|_| SnapshotError::Manifest {
            key: "snapshot service".into(),
            reason: "the snapshot service stopped".into(),
        })
    }
}

struct Runner {
    cfg: ServiceConfig,
    shared: Arc<SnapshotShared>,
    metrics: Arc<Metrics>,
    existing: BTreeSet<String>,
    parent: Option<String>,
    hashes: HashCache,
}

impl Runner {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<SnapshotJob>) {
        while let Some(job) = rx.recv().await {
            // From the loop's hand-over, so the local cut on the checkpoint thread is part of the duration.
            let started = job.requested_at;
            let result = self.snapshot(&job).await;
            let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let info = match result {
                Ok((location, uploaded_bytes, state_bytes)) => {
                    self.shared.consecutive_failures.store(0, Ordering::Release);
                    self.metrics.checkpoint_done(
                        job.kind,
                        started.elapsed(),
                        uploaded_bytes,
                        state_bytes,
                    );
                    tracing::info!(id = %job.id, kind = ?job.kind, uploaded_bytes, state_bytes, duration_ms, "snapshot completed");
                    SnapshotInfo {
                        id: job.id.clone(),
                        state: SnapshotState::Completed,
                        location: Some(location),
                        error: None,
                        uploaded_bytes,
                        state_bytes,
                        duration_ms: Some(duration_ms),
                    }
                }
                Err(e) => {
                    let n = self
                        .shared
                        .consecutive_failures
                        .fetch_add(1, Ordering::AcqRel)
                        + 1;
                    self.metrics.checkpoint_failed(job.kind);
                    tracing::warn!(id = %job.id, kind = ?job.kind, consecutive_failures = n, error = %e, "snapshot failed");
                    SnapshotInfo {
                        id: job.id.clone(),
                        state: SnapshotState::Failed,
                        location: None,
                        error: Some(e.to_string()),
                        uploaded_bytes: 0,
                        state_bytes: 0,
                        duration_ms: Some(duration_ms),
                    }
                }
            };
            if info.state == SnapshotState::Completed {
                self.audit(&job.parts).await;
            }
            self.shared.record(job.kind, &info);
            if let Ok(mut pinned) = self.shared.pinned.lock() {
                for p in &job.parts {
                    pinned.remove(&(p.partition, p.seq));
                }
            }
            self.shared.busy.store(false, Ordering::Release);
            if let Some(done) = job.done {
                let _ = done.send(info);
            }
        }
    }

    /// Appends the decisions the snapshot covers to the audit table. A failure leaves the table behind (never
    /// wrong); the next completed snapshot appends what is missing.
    async fn audit(&self, parts: &[PartRef]) {
        let Some(sink) = &self.cfg.audit else {
            return;
        };
        // The table's offsets are those of the authorizations topic (decisions carry its offset).
        let covers = parts
            .iter()
            .map(|p| (p.partition, p.input_offsets[0]))
            .collect();
        match sink.commit(&covers).await {
            Ok(appended) => {
                let rows = appended.as_ref().map_or(0, |a| a.rows);
                self.metrics.audit_committed(rows as u64);
                tracing::debug!(rows, snapshot = ?appended.map(|a| a.snapshot_id), "audit table appended");
            }
            Err(e) => {
                self.metrics.audit_failed(e.category());
                tracing::warn!(error = %e, "audit append failed; the next snapshot retries");
            }
        }
    }

    /// Uploads, then (checkpoints) prunes and collects garbage. Returns (location, uploaded, state bytes).
    async fn snapshot(&mut self, job: &SnapshotJob) -> Result<(String, u64, u64), SnapshotError> {
        let mut parts = Vec::new();
        for p in &job.parts {
            let dir = LocalCheckpoints::new(&self.cfg.state_root, p.partition).db_dir(p.seq);
            let files = self.hashes.files_of(p.partition, &dir)?;
            parts.push(LocalPart {
                partition: p.partition,
                input_offsets: p.input_offsets,
                txn_seq: p.txn_seq,
                watermark_ms: p.watermark_ms,
                dir,
                files,
            });
        }
        let req = UploadRequest {
            kind: job.kind,
            id: &job.id,
            job: &self.cfg.job,
            worker: &self.cfg.worker,
            model_version: &self.cfg.model_version,
            parent: match job.kind {
                SnapshotKind::Checkpoint => self.parent.clone(),
                SnapshotKind::Savepoint => None,
            },
            created_at_ms: wall_clock_ms(),
            lineage: self.cfg.lineage.clone(),
            parts: &parts,
            concurrency: self.cfg.concurrency,
        };
        let done = upload(&self.cfg.store, &self.cfg.layout, &req, &mut self.existing).await?;
        let state_bytes = done.manifest.state_bytes();
        let location = match job.kind {
            SnapshotKind::Checkpoint => {
                self.parent = Some(job.id.clone());
                if let Err(e) = self.collect_garbage().await {
                    // GC failing is not a checkpoint failure: the checkpoint is complete and restorable.
                    tracing::warn!(error = %e, "checkpoint garbage collection failed; will retry next time");
                }
                self.cfg.store.uri_of(&done.manifest_key)
            }
            SnapshotKind::Savepoint => self
                .cfg
                .store
                .uri_of(&self.cfg.layout.savepoint_dir(&job.id)),
        };
        Ok((location, done.uploaded_bytes, state_bytes))
    }

    async fn collect_garbage(&mut self) -> Result<(), SnapshotError> {
        let store = &self.cfg.store;
        let manifests = checkpoint_manifests(store, &self.cfg.layout).await?;
        let objects = store.list(&self.cfg.layout.objects_prefix()).await?;
        let gc = plan(&GcInput {
            manifests: &manifests,
            objects: &objects,
            in_progress: &BTreeSet::new(),
            worker: &self.cfg.worker,
            keep: self.cfg.retained,
            now_ms: wall_clock_ms(),
            grace_ms: GC_GRACE_MS,
        });
        // Manifests first: an object is only deleted once nothing points at it.
        for key in &gc.manifests {
            store.delete(key).await?;
        }
        for key in &gc.objects {
            store.delete(key).await?;
        }
        let dropped: BTreeSet<&String> = gc.manifests.iter().collect();
        self.existing = manifests
            .iter()
            .filter(|(k, m)| m.worker == self.cfg.worker && !dropped.contains(k))
            .flat_map(|(_, m)| m.objects().map(str::to_string))
            .collect();
        if !gc.manifests.is_empty() || !gc.objects.is_empty() {
            tracing::debug!(
                manifests = gc.manifests.len(),
                objects = gc.objects.len(),
                "checkpoint GC"
            );
        }
        Ok(())
    }
}
