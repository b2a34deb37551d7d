//! Shared fixtures: deterministic decision records and a local SQLite-catalog table.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use sluice_audit::{AuditTable, AuditTableConfig};
use sluice_core::features::FeatureVector;
use sluice_core::model::{Decision, ReasonCode};
use sluice_core::processor::DecisionRecord;

/// This crate's directory. Cargo sets `CARGO_MANIFEST_DIR` when it runs a test: prefer it to the value
/// compiled in, because a shared `CARGO_TARGET_DIR` lets a checkout at another path reuse these test
/// binaries unchanged, and the compiled-in path then points into that other (possibly deleted) checkout.
pub fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.join("compact").join("venv.sh").is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// 2024-03-01T00:00:00Z.
pub const DAY0_MS: i64 = 1_709_251_200_000;
pub const DAY_MS: i64 = 86_400_000;

/// A decision whose every field derives from (partition, offset), so tests can rebuild it.
pub fn decision(partition: i32, offset: i64) -> DecisionRecord {
    let n = u64::try_from(offset).unwrap();
    let decisions = [Decision::Approve, Decision::Review, Decision::Decline];
    let reasons = match offset % 3 {
        0 => vec![],
        1 => vec![ReasonCode::Velocity60s],
        _ => vec![
            ReasonCode::NewDevice,
            ReasonCode::CountryMismatch,
            ReasonCode::CardBlocked,
        ],
    };
    DecisionRecord {
        txn_id: format!("txn-p{partition}-o{offset}"),
        card_id: format!("card-{}", offset % 7),
        decision: decisions[usize::try_from(offset % 3).unwrap()],
        score: offset * 10 - 500,
        reasons,
        features: FeatureVector {
            txn_count_60s: n % 5 + 1,
            amount_sum_1h_minor: offset * 1_000 + i64::from(partition),
            distinct_merchants_10m: n % 4,
            device_seen_before: offset % 2 == 0,
            device_trusted: offset % 4 == 0,
            ms_since_prev_txn: (offset % 5 != 0).then_some(offset * 17 - 40),
            country_mismatch: offset % 3 == 2,
            amount_ratio_30d_bp: (offset % 4 != 1).then_some(10_000 + offset),
            card_blocked: offset % 11 == 0,
        },
        model_version: format!("model-v{}", 1 + offset / 50),
        source_partition: partition,
        source_offset: offset,
        // Spread over two days (and one row before the epoch day boundary of day 0).
        event_time_ms: DAY0_MS + (offset % 2) * DAY_MS + offset * 1_000 - 1,
    }
}

pub fn decisions(partition: i32, offsets: std::ops::Range<i64>) -> Vec<DecisionRecord> {
    offsets.map(|o| decision(partition, o)).collect()
}

pub fn local_config(dir: &Path) -> AuditTableConfig {
    AuditTableConfig::local(&dir.join("catalog.db"), &dir.join("warehouse"))
}

pub async fn local_table(dir: &Path) -> AuditTable {
    AuditTable::open_or_create(local_config(dir)).await.unwrap()
}
