//! The checkpoint benchmark's result (written as JSON) and its Markdown table, with the goals.

use serde::Serialize;

use super::recovery::RecoveryRun;

/// The goals: the processing thread pauses < 50 ms for a checkpoint; recovery with local state < 5 s.
pub const PAUSE_GOAL_MS: f64 = 50.0;
pub const LOCAL_RECOVERY_GOAL_MS: f64 = 5_000.0;

/// One triggered checkpoint.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckpointMeasure {
    pub id: String,
    /// Processing-thread pause: the delta of `sluice_checkpoint_pause_seconds` over the trigger (sum / count).
    pub pause_ms: f64,
    /// The checkpoint thread's local cut (flush + hard links of every partition, while processing goes on):
    /// the delta of `sluice_checkpoint_local_seconds` (sum / count).
    pub local_cut_ms: f64,
    /// Pauses observed in that delta (1 unless a periodic checkpoint ran too).
    pub pauses: f64,
    /// The worker's duration (hand-over to manifest written), from `GET /v1/status`.
    pub duration_ms: u64,
    /// Trigger request → completion seen in `/v1/status` (includes the wait for the next commit boundary).
    pub wall_ms: f64,
    pub uploaded_bytes: u64,
    /// Total state bytes the checkpoint references.
    pub state_bytes: u64,
    /// Delta of `sluice_checkpoint_uploaded_bytes_total{kind="checkpoint"}`: must equal `uploaded_bytes`.
    pub uploaded_bytes_metric: f64,
}

/// A batch of produced input.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Batch {
    pub authorizations: u64,
    pub records: u64,
    /// Distinct cards (keys) the batch touches.
    pub cards_touched: u64,
    pub produce_seconds: f64,
    /// Worker catch-up time after the batch was produced.
    pub drain_seconds: f64,
}

/// Bytes on disk, measured (hard links counted once).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiskUse {
    /// `stateBytes` of `GET /v1/status` after the load.
    pub status_state_bytes: u64,
    /// The worker's state directory (live RocksDB + local checkpoints) after the full checkpoint.
    pub state_dir_bytes: u64,
    /// The S3 server's data directory after the full checkpoint.
    pub s3_bytes: u64,
    /// Free bytes on the benchmark's filesystem: at the start, and the lowest seen.
    pub free_at_start: u64,
    pub free_lowest: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckpointBenchResult {
    pub unix_time: u64,
    pub provenance: sluice_testbed::provenance::Provenance,
    pub quick: bool,
    pub machine: String,
    /// Card states bulk-loaded before the run (`--preload`), if any.
    pub preload: Option<super::preload::Preloaded>,
    /// Generator cards; the load batch touches about 63 % of them (1 authorization per card on average).
    pub cards: u64,
    pub partitions: i32,
    pub load: Batch,
    pub full: CheckpointMeasure,
    /// The batch changing `change_percent` % of the cards, then the checkpoint after it.
    pub change_percent: f64,
    pub change: Batch,
    pub incremental: CheckpointMeasure,
    /// incremental.uploaded_bytes / incremental.state_bytes, and change.cards_touched / load.cards_touched.
    pub uploaded_share_of_state: f64,
    pub changed_share_of_cards: f64,
    /// Input committed after the last checkpoint and before the kill: replayed by both recoveries.
    pub tail: Batch,
    /// kill -9, input pending, restart on the same state directory.
    pub recovery_local: RecoveryRun,
    /// kill -9, input pending, restart on an empty state directory (everything from S3).
    pub recovery_s3: RecoveryRun,
    pub disk: DiskUse,
    pub pause_goal_met: bool,
    pub local_recovery_goal_met: bool,
}

impl CheckpointBenchResult {
    /// Cards holding state after the load: all preloaded cards, or those the load touched.
    pub fn cards_with_state(&self) -> u64 {
        self.preload
            .as_ref()
            .map_or(self.load.cards_touched, |p| p.cards)
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

pub fn print_table(r: &CheckpointBenchResult) {
    println!(
        "\n{} cards, {} partitions; load {} input records; state {:.1} MiB ({:.0} bytes per touched card)",
        r.cards,
        r.partitions,
        r.load.records,
        mib(r.full.state_bytes),
        r.full.state_bytes as f64 / r.cards_with_state().max(1) as f64
    );
    println!(
        "\n| checkpoint | pause ms | local cut ms (background) | duration ms | uploaded MiB | state MiB | uploaded / state |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (name, c) in [
        ("full (first)", &r.full),
        (
            &*format!("after {} % of cards changed", r.change_percent),
            &r.incremental,
        ),
    ] {
        println!(
            "| {name} | {:.2} | {:.0} | {} | {:.2} | {:.1} | {:.4} |",
            c.pause_ms,
            c.local_cut_ms,
            c.duration_ms,
            mib(c.uploaded_bytes),
            mib(c.state_bytes),
            c.uploaded_bytes as f64 / c.state_bytes.max(1) as f64
        );
    }
    println!(
        "\nchanged cards: {} of {} ({:.4}); tail replayed on recovery: {} records",
        r.change.cards_touched,
        r.cards_with_state(),
        r.changed_share_of_cards,
        r.tail.records
    );
    println!(
        "\n| recovery (kill -9) | first new decision ms | ready ms | init_transactions ms | worker recovery ms | replayed records | downloaded MiB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (name, rec) in [
        ("local state", &r.recovery_local),
        ("empty dir, S3 restore", &r.recovery_s3),
    ] {
        println!(
            "| {name} | {:.0} | {} | {} | {} | {} | {:.2} |",
            rec.first_decision_ms,
            rec.ready_ms.map_or("–".into(), |v| format!("{v:.0}")),
            rec.init_transactions_ms
                .map_or("–".into(), |v| v.to_string()),
            rec.worker_recovery_ms.map_or("–".into(), |v| v.to_string()),
            rec.replayed_records,
            mib(rec.downloaded_bytes)
        );
    }
    println!(
        "\ngoals: pause < {PAUSE_GOAL_MS} ms: {}; local recovery < {LOCAL_RECOVERY_GOAL_MS} ms: {}",
        met(r.pause_goal_met),
        met(r.local_recovery_goal_met)
    );
}

fn met(b: bool) -> &'static str {
    if b { "met" } else { "NOT met" }
}
