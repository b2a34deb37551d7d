//! Reads what sluice-audit wrote with PyIceberg (from PyPI, in a venv made by
//! `pyiceberg-venv.sh`) through the same SQLite catalog, and compares counts and sampled rows.
//! Fails, never skips, when the venv cannot be made: the independent reader is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{decision, decisions, local_config};
use serde_json::Value;
use sluice_audit::{AsOf, AuditTable, Offsets};
use sluice_core::processor::DecisionRecord;

fn tests_dir() -> PathBuf {
    common::crate_dir().join("tests")
}

/// The venv's interpreter (last line of the script's stdout).
fn pyiceberg_python() -> PathBuf {
    let out = Command::new("bash")
        .arg(tests_dir().join("pyiceberg-venv.sh"))
        .output()
        .expect("run pyiceberg-venv.sh");
    assert!(
        out.status.success(),
        "pyiceberg-venv.sh failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().last().expect("interpreter path").trim())
}

/// The JSON row PyIceberg returns must carry exactly the Rust record's values.
fn assert_same_row(py: &Value, d: &DecisionRecord) {
    let reasons: Vec<&str> = d.reasons.iter().map(|r| r.as_str()).collect();
    let f = &d.features;
    let expected = serde_json::json!({
        "txn_id": d.txn_id,
        "card_id": d.card_id,
        "event_time": d.event_time_ms,
        "decision": d.decision.as_str(),
        "score": d.score,
        "reasons": reasons,
        "txn_count_60s": f.txn_count_60s,
        "amount_sum_1h_minor": f.amount_sum_1h_minor,
        "distinct_merchants_10m": f.distinct_merchants_10m,
        "device_seen_before": f.device_seen_before,
        "device_trusted": f.device_trusted,
        "ms_since_prev_txn": f.ms_since_prev_txn,
        "country_mismatch": f.country_mismatch,
        "amount_ratio_30d_bp": f.amount_ratio_30d_bp,
        "card_blocked": f.card_blocked,
        "model_version": d.model_version,
        "source_partition": d.source_partition,
        "source_offset": d.source_offset,
    });
    assert_eq!(
        py, &expected,
        "row {} differs between PyIceberg and Rust",
        d.txn_id
    );
}

#[tokio::test]
async fn pyiceberg_reads_the_same_rows() {
    let python = pyiceberg_python();
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path());
    let table = AuditTable::open_or_create(cfg.clone()).await.unwrap();

    let mut batch1 = decisions(0, 0..40);
    batch1.extend(decisions(1, 0..25));
    let first = table
        .append(&batch1, &Offsets::from([(0, 40), (1, 25)]))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let batch2 = decisions(2, 0..30);
    table
        .append(&batch2, &Offsets::from([(2, 30)]))
        .await
        .unwrap()
        .unwrap();

    let sample = [
        decision(0, 0),
        decision(0, 17),
        decision(1, 24),
        decision(2, 5),
        decision(2, 29),
    ];
    let warehouse = cfg.warehouse.clone();
    let mut cmd = Command::new(&python);
    cmd.arg(tests_dir().join("pyiceberg_check.py"))
        .arg("--snapshot-id")
        .arg(first.snapshot_id.to_string())
        .arg(dir.path().join("catalog.db"))
        .arg(&warehouse)
        .arg(table.name());
    for d in &sample {
        cmd.arg(&d.txn_id);
    }
    let out = cmd.output().expect("run pyiceberg_check.py");
    assert!(
        out.status.success(),
        "pyiceberg_check.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    let rust_count = table.row_count(AsOf::Current).await.unwrap();
    assert_eq!(rust_count, 95);
    assert_eq!(report["row_count"], rust_count);
    assert_eq!(
        report["row_count_as_of_snapshot"],
        table
            .row_count(AsOf::SnapshotId(first.snapshot_id))
            .await
            .unwrap()
    );
    assert_eq!(
        report["offsets"],
        serde_json::json!({"0": 40, "1": 25, "2": 30})
    );
    assert!(
        report["partition_spec"].as_str().unwrap().contains("day"),
        "{report}"
    );
    for d in &sample {
        let row = &report["rows"][&d.txn_id];
        assert_same_row(row, d);
        // And the Rust reader agrees with both.
        assert_eq!(
            table
                .find_txn(&d.txn_id, AsOf::Current)
                .await
                .unwrap()
                .as_ref(),
            Some(d)
        );
    }
}
