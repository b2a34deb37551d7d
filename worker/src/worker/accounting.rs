//! What the loop measures about itself: busy and backpressure time per second, ingest→commit latency, and the
//! status it publishes for the control API (and so for the operator and autoscaler) once per second.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use sluice_api::control::{PartitionStatus, WorkerPhase};
use sluice_core::event::SourceTopic;
use sluice_core::processor::OutputKind;

use super::task::PartitionTask;
use crate::control::StatusBoard;
use crate::metrics::{Metrics, PartitionLabel, TopicLabel};
use crate::snapshot::service::SnapshotShared;
use crate::snapshot::wall_clock_ms;

/// Log-end offsets per owned partition and input topic, refreshed by the lag poller.
pub type HighWatermarks = Arc<Mutex<BTreeMap<i32, [i64; 3]>>>;

const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Per-loop accounting.
pub struct Accounting {
    pub metrics: Arc<Metrics>,
    board: Arc<StatusBoard>,
    snapshots: Option<Arc<SnapshotShared>>,
    highs: HighWatermarks,
    in_counters: [Counter; 3],
    out_counters: [Counter; 4],
    window_start: Instant,
    idle: Duration,
    blocked: Duration,
    processed: BTreeMap<i32, u64>,
    /// Input timestamps (ms) of the records in the open transaction.
    txn_timestamps: Vec<i64>,
}

fn out_index(kind: OutputKind) -> usize {
    match kind {
        OutputKind::Decisions => 0,
        OutputKind::Alerts => 1,
        OutputKind::Dlq => 2,
        OutputKind::Late => 3,
    }
}

impl Accounting {
    pub fn new(
        metrics: Arc<Metrics>,
        board: Arc<StatusBoard>,
        snapshots: Option<Arc<SnapshotShared>>,
        highs: HighWatermarks,
    ) -> Accounting {
        let in_counters = SourceTopic::ALL.map(|t| {
            metrics
                .records_in
                .get_or_create(&TopicLabel { topic: t.name() })
                .clone()
        });
        let out_counters = [
            OutputKind::Decisions,
            OutputKind::Alerts,
            OutputKind::Dlq,
            OutputKind::Late,
        ]
        .map(|k| {
            metrics
                .records_out
                .get_or_create(&TopicLabel { topic: k.name() })
                .clone()
        });
        Accounting {
            metrics,
            board,
            snapshots,
            highs,
            in_counters,
            out_counters,
            window_start: Instant::now(),
            idle: Duration::ZERO,
            blocked: Duration::ZERO,
            processed: BTreeMap::new(),
            txn_timestamps: Vec::new(),
        }
    }

    pub fn record_in(&mut self, topic: SourceTopic, partition: i32, timestamp_ms: Option<i64>) {
        if let Some(c) = self.in_counters.get(usize::from(topic.index())) {
            c.inc();
        }
        if topic == SourceTopic::Authorizations {
            *self.processed.entry(partition).or_default() += 1;
        }
        if let Some(ts) = timestamp_ms {
            self.txn_timestamps.push(ts);
        }
    }

    pub fn record_out(&mut self, kind: OutputKind) {
        if let Some(c) = self.out_counters.get(out_index(kind)) {
            c.inc();
        }
    }

    /// Time the loop waited for input with nothing to do.
    pub fn add_idle(&mut self, d: Duration) {
        self.idle += d;
    }

    /// Time the loop was blocked on Kafka (producer queue full, commit).
    pub fn add_blocked(&mut self, d: Duration) {
        self.blocked += d;
    }

    /// After a commit: the commit's latency and every included record's ingest→commit latency.
    pub fn committed(&mut self, commit_took: Duration) {
        self.metrics.transactions.inc();
        self.metrics
            .commit_latency
            .observe(commit_took.as_secs_f64());
        let now = wall_clock_ms();
        for ts in self.txn_timestamps.drain(..) {
            let ms = now.saturating_sub(ts).max(0);
            self.metrics
                .ingest_to_commit_latency
                .observe(ms as f64 / 1000.0);
        }
        self.add_blocked(commit_took);
    }

    /// Publishes metrics and status once per second.
    pub fn maybe_publish(&mut self, tasks: &BTreeMap<i32, PartitionTask>, phase: WorkerPhase) {
        let elapsed = self.window_start.elapsed();
        if elapsed < PUBLISH_EVERY {
            return;
        }
        self.publish(tasks, phase, elapsed);
    }

    pub fn publish(
        &mut self,
        tasks: &BTreeMap<i32, PartitionTask>,
        phase: WorkerPhase,
        elapsed: Duration,
    ) {
        let secs = elapsed.as_secs_f64().max(1e-3);
        let busy = elapsed.saturating_sub(self.idle);
        let busy_ms_s = busy.as_secs_f64() * 1000.0 / secs;
        let blocked_ms_s = self.blocked.as_secs_f64() * 1000.0 / secs;
        self.metrics
            .busy_ms_per_second
            .set(busy_ms_s.round() as i64);
        self.metrics
            .backpressure_ms_per_second
            .set(blocked_ms_s.round() as i64);
        let highs = self.highs.lock().map(|h| h.clone()).unwrap_or_default();
        let now = wall_clock_ms();
        let mut partitions = Vec::new();
        let mut total_state = 0;
        for (&p, task) in tasks {
            let committed = task.committed_offsets();
            let lag = highs.get(&p).map(|h| {
                h.iter()
                    .zip(committed)
                    .map(|(hi, c)| (hi - c).max(0))
                    .sum::<i64>()
            });
            let label = PartitionLabel { partition: p };
            if let Some(l) = lag {
                self.metrics.consumer_lag.get_or_create(&label).set(l);
            }
            let wm = task.watermark_ms();
            if let Some(w) = wm {
                self.metrics
                    .watermark_lag_ms
                    .get_or_create(&label)
                    .set(now.saturating_sub(w));
            }
            let state_bytes = task.state_bytes();
            total_state += state_bytes;
            self.metrics
                .state_bytes
                .get_or_create(&label)
                .set(crate::metrics::gauge_bytes(state_bytes));
            self.metrics.partition_memory(p, task.memory());
            let processed = self.processed.get(&p).copied().unwrap_or(0);
            partitions.push(PartitionStatus {
                partition: p,
                committed_offsets: committed,
                lag,
                watermark_ms: wm,
                state_bytes,
                processed_per_sec: processed as f64 / secs,
            });
        }
        // The block cache is shared: any partition reports the same figures.
        if let Some(task) = tasks.values().next() {
            self.metrics.block_cache(task.block_cache());
        }
        let snaps = self.snapshots.clone();
        self.board.update(|s| {
            s.phase = phase;
            s.partitions = partitions;
            s.state_bytes = total_state;
            s.busy_ratio = (busy.as_secs_f64() / secs).clamp(0.0, 1.0);
            if let Some(sh) = &snaps {
                s.last_checkpoint = sh.last_checkpoint();
                s.last_savepoint = sh.last_savepoint();
                s.consecutive_failed_checkpoints = sh.consecutive_failures();
            }
        });
        self.window_start = Instant::now();
        self.idle = Duration::ZERO;
        self.blocked = Duration::ZERO;
        self.processed.clear();
    }
}
