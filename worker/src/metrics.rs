//! The worker's Prometheus metrics (prometheus-client). Label sets are bounded by configuration: input topic
//! (3), output topic (4), snapshot kind (2), owned partition (≤ partition count). Nothing is labelled by card,
//! transaction or error text.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sluice_api::manifest::SnapshotKind;

use crate::state::{BlockCacheUsage, PartitionMemory};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

fn kind_label(kind: SnapshotKind) -> KindLabel {
    KindLabel {
        kind: match kind {
            SnapshotKind::Checkpoint => "checkpoint",
            SnapshotKind::Savepoint => "savepoint",
        },
    }
}

/// Why an audit append failed: a bounded set (see `AuditSinkError::category`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabel {
    pub category: &'static str,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Every metric the worker exports.
pub struct Metrics {
    registry: Registry,
    pub records_in: Family<TopicLabel, Counter>,
    pub records_out: Family<TopicLabel, Counter>,
    pub consumer_lag: Family<PartitionLabel, Gauge>,
    pub watermark_lag_ms: Family<PartitionLabel, Gauge>,
    pub state_bytes: Family<PartitionLabel, Gauge>,
    memtable_bytes: Family<PartitionLabel, Gauge>,
    table_readers_bytes: Family<PartitionLabel, Gauge>,
    read_cache_bytes: Family<PartitionLabel, Gauge>,
    block_cache_usage_bytes: Gauge,
    block_cache_pinned_bytes: Gauge,
    pub busy_ms_per_second: Gauge,
    pub backpressure_ms_per_second: Gauge,
    pub commit_latency: Histogram,
    pub ingest_to_commit_latency: Histogram,
    pub transactions: Counter,
    pub checkpoint_pause: Histogram,
    pub checkpoint_local: Histogram,
    checkpoint_duration: Family<KindLabel, Histogram>,
    checkpoint_failures: Family<KindLabel, Counter>,
    checkpoint_uploaded_bytes: Family<KindLabel, Counter>,
    checkpoint_size_bytes: Family<KindLabel, Gauge<u64, AtomicU64>>,
    pub restarts: Counter,
    audit_rows: Counter,
    audit_commits: Counter,
    audit_failures: Family<CategoryLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sluice");
        let m = Metrics {
            records_in: Family::default(),
            records_out: Family::default(),
            consumer_lag: Family::default(),
            watermark_lag_ms: Family::default(),
            state_bytes: Family::default(),
            memtable_bytes: Family::default(),
            table_readers_bytes: Family::default(),
            read_cache_bytes: Family::default(),
            block_cache_usage_bytes: Gauge::default(),
            block_cache_pinned_bytes: Gauge::default(),
            busy_ms_per_second: Gauge::default(),
            backpressure_ms_per_second: Gauge::default(),
            commit_latency: latency_histogram(),
            ingest_to_commit_latency: latency_histogram(),
            transactions: Counter::default(),
            checkpoint_pause: latency_histogram(),
            checkpoint_local: latency_histogram(),
            checkpoint_duration: Family::new_with_constructor(latency_histogram),
            checkpoint_failures: Family::default(),
            checkpoint_uploaded_bytes: Family::default(),
            checkpoint_size_bytes: Family::default(),
            restarts: Counter::default(),
            audit_rows: Counter::default(),
            audit_commits: Counter::default(),
            audit_failures: Family::default(),
            registry: Registry::default(),
        };
        m.register_processing(&mut registry);
        m.register_memory(&mut registry);
        m.register_checkpoints(&mut registry);
        m.register_lifecycle_and_audit(&mut registry);
        Metrics { registry, ..m }
    }

    /// Throughput, lag, state size, busy time and the commit path.
    fn register_processing(&self, r: &mut Registry) {
        r.register(
            "records_in",
            "Input records processed, by source topic",
            self.records_in.clone(),
        );
        r.register(
            "records_out",
            "Output records produced (committed or not), by output topic",
            self.records_out.clone(),
        );
        r.register(
            "consumer_lag_records",
            "Records between the committed offset and the log end, summed over input topics",
            self.consumer_lag.clone(),
        );
        r.register(
            "watermark_lag_ms",
            "Wall clock minus the partition's event-time watermark",
            self.watermark_lag_ms.clone(),
        );
        r.register(
            "state_bytes",
            "Live RocksDB state size of the partition (SST files)",
            self.state_bytes.clone(),
        );
        r.register(
            "busy_ms_per_second",
            "Milliseconds per second spent processing (not waiting for input)",
            self.busy_ms_per_second.clone(),
        );
        r.register(
            "backpressure_ms_per_second",
            "Milliseconds per second blocked on the producer queue or a commit",
            self.backpressure_ms_per_second.clone(),
        );
        r.register(
            "commit_latency_seconds",
            "Duration of a Kafka transaction commit (offsets + commit)",
            self.commit_latency.clone(),
        );
        r.register(
            "ingest_to_commit_latency_seconds",
            "Input record timestamp to the commit that made its output visible",
            self.ingest_to_commit_latency.clone(),
        );
        r.register(
            "transactions",
            "Kafka transactions committed",
            self.transactions.clone(),
        );
    }

    /// Memory held by the state's caches and buffers, so RSS can be told apart into caches and the rest.
    fn register_memory(&self, r: &mut Registry) {
        r.register(
            "rocksdb_block_cache_usage_bytes",
            "Bytes in the worker's shared RocksDB block cache, the memtables charged to it included",
            self.block_cache_usage_bytes.clone(),
        );
        r.register(
            "rocksdb_block_cache_pinned_bytes",
            "Bytes of block cache entries in use (not evictable)",
            self.block_cache_pinned_bytes.clone(),
        );
        r.register(
            "rocksdb_memtable_bytes",
            "Bytes of the partition's memtables (also counted in the block cache usage)",
            self.memtable_bytes.clone(),
        );
        r.register(
            "rocksdb_table_readers_bytes",
            "Bytes of the partition's table readers held outside the block cache",
            self.table_readers_bytes.clone(),
        );
        r.register(
            "read_cache_bytes",
            "Approximate heap bytes of the partition's read cache of committed state (keys, values, table slots)",
            self.read_cache_bytes.clone(),
        );
    }

    /// Sets the memory gauges of one partition.
    pub fn partition_memory(&self, partition: i32, m: PartitionMemory) {
        let label = PartitionLabel { partition };
        let set = |g: &Family<PartitionLabel, Gauge>, v: u64| {
            g.get_or_create(&label).set(gauge_bytes(v));
        };
        set(&self.memtable_bytes, m.memtables);
        set(&self.table_readers_bytes, m.table_readers);
        set(&self.read_cache_bytes, m.read_cache);
    }

    pub fn block_cache(&self, b: BlockCacheUsage) {
        self.block_cache_usage_bytes.set(gauge_bytes(b.usage));
        self.block_cache_pinned_bytes.set(gauge_bytes(b.pinned));
    }

    /// Checkpoints and savepoints: pause, duration, failures, bytes.
    fn register_checkpoints(&self, r: &mut Registry) {
        r.register(
        "checkpoint_pause_seconds",
        "Time the processing thread paused for a checkpoint (handing the partitions to the checkpoint thread)",
        self.checkpoint_pause.clone(),
    );
        r.register(
        "checkpoint_local_seconds",
        "Time the checkpoint thread took to cut the local RocksDB checkpoints (flush + hard links) of all owned partitions",
        self.checkpoint_local.clone(),
    );
        r.register(
            "checkpoint_duration_seconds",
            "Snapshot duration from hand-over to manifest written",
            self.checkpoint_duration.clone(),
        );
        r.register(
            "checkpoint_failures",
            "Snapshots that failed",
            self.checkpoint_failures.clone(),
        );
        r.register(
            "checkpoint_uploaded_bytes",
            "Bytes uploaded by snapshots (incremental for checkpoints)",
            self.checkpoint_uploaded_bytes.clone(),
        );
        r.register(
            "checkpoint_size_bytes",
            "State bytes referenced by the last completed snapshot",
            self.checkpoint_size_bytes.clone(),
        );
    }

    /// Restarts and the audit table sink.
    fn register_lifecycle_and_audit(&self, r: &mut Registry) {
        r.register(
            "worker_restarts",
            "Times this worker's process started on the same state directory, minus one",
            self.restarts.clone(),
        );
        r.register(
            "audit_rows",
            "Decision rows appended to the Iceberg audit table",
            self.audit_rows.clone(),
        );
        r.register(
            "audit_commits",
            "Audit appends after a completed snapshot (including ones with nothing new)",
            self.audit_commits.clone(),
        );
        r.register(
            "audit_failures",
            "Failed audit appends, by category (the next snapshot retries)",
            self.audit_failures.clone(),
        );
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    pub fn checkpoint_done(&self, kind: SnapshotKind, took: Duration, uploaded: u64, size: u64) {
        let l = kind_label(kind);
        self.checkpoint_duration
            .get_or_create(&l)
            .observe(took.as_secs_f64());
        self.checkpoint_uploaded_bytes
            .get_or_create(&l)
            .inc_by(uploaded);
        self.checkpoint_size_bytes.get_or_create(&l).set(size);
    }

    pub fn audit_committed(&self, rows: u64) {
        self.audit_commits.inc();
        self.audit_rows.inc_by(rows);
    }

    pub fn audit_failed(&self, category: &'static str) {
        self.audit_failures
            .get_or_create(&CategoryLabel { category })
            .inc();
    }

    pub fn checkpoint_failed(&self, kind: SnapshotKind) {
        self.checkpoint_failures
            .get_or_create(&kind_label(kind))
            .inc();
    }
}

/// A byte count as a gauge value: Prometheus gauges are `i64`, and no real size reaches `i64::MAX`, so
/// saturating there is only a guard.
pub fn gauge_bytes(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_match_the_chart_alerts() {
        let m = Metrics::new();
        m.records_in
            .get_or_create(&TopicLabel {
                topic: "authorizations",
            })
            .inc();
        m.checkpoint_failed(SnapshotKind::Checkpoint);
        m.checkpoint_done(SnapshotKind::Checkpoint, Duration::from_millis(5), 10, 20);
        m.consumer_lag
            .get_or_create(&PartitionLabel { partition: 3 })
            .set(7);
        m.partition_memory(
            3,
            PartitionMemory {
                memtables: 11,
                table_readers: 12,
                read_cache: 13,
            },
        );
        m.block_cache(BlockCacheUsage {
            usage: 21,
            pinned: 22,
        });
        let text = m.encode();
        for name in [
            "sluice_records_in_total{topic=\"authorizations\"} 1",
            "sluice_checkpoint_failures_total{kind=\"checkpoint\"} 1",
            "sluice_checkpoint_duration_seconds_bucket",
            "sluice_consumer_lag_records{partition=\"3\"} 7",
            "sluice_busy_ms_per_second",
            "sluice_worker_restarts_total",
            "sluice_ingest_to_commit_latency_seconds_bucket",
            "sluice_rocksdb_memtable_bytes{partition=\"3\"} 11",
            "sluice_rocksdb_table_readers_bytes{partition=\"3\"} 12",
            "sluice_read_cache_bytes{partition=\"3\"} 13",
            "sluice_rocksdb_block_cache_usage_bytes 21",
            "sluice_rocksdb_block_cache_pinned_bytes 22",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
