//! `sluice-bench checkpoint --quick` works end to end against the real broker and a real S3 server: a full
//! and an incremental checkpoint are measured, a kill -9 worker recovers from its local state and then from S3
//! alone, and a result file is written. This proves the harness and that the numbers are sane (the incremental
//! checkpoint uploads less than the state; only the empty-directory restart downloads), never the speed
//! (debug build, 20,000 cards); the real numbers are in docs/benchmarks.md.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use sluice_testbed::binaries::binary;
use sluice_testbed::testbed::ENV_KAFKA;
use sluice_testbed::{TestBed, unique_name};

fn u(v: &serde_json::Value, path: &[&str]) -> u64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}

fn f(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}

#[test]
fn quick_checkpoint_benchmark_measures_checkpoints_and_both_recoveries() {
    let bed = TestBed::with_kafka().unwrap();
    let out = sluice_testbed::cache::run_root().join(format!("{}.json", unique_name("bench-ckpt")));
    let status = Command::new(binary("sluice-bench").unwrap())
        .args(["checkpoint", "--quick", "--out"])
        .arg(&out)
        .env(ENV_KAFKA, bed.kafka_bootstrap())
        .status()
        .unwrap();
    assert!(status.success(), "sluice-bench checkpoint failed: {status}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();

    assert_eq!(u(&r, &["cards"]), 20_000, "{r}");
    assert!(u(&r, &["load", "cards_touched"]) > 10_000, "{r}");
    for cp in ["full", "incremental"] {
        assert!(u(&r, &[cp, "state_bytes"]) > 0, "{cp}: {r}");
        assert!(u(&r, &[cp, "uploaded_bytes"]) > 0, "{cp}: {r}");
        // The metric and the status API agree on what was uploaded.
        assert_eq!(
            f(&r, &[cp, "uploaded_bytes_metric"]) as u64,
            u(&r, &[cp, "uploaded_bytes"]),
            "{cp}: {r}"
        );
        assert!(f(&r, &[cp, "pauses"]) >= 1.0, "{cp}: {r}");
        assert!(f(&r, &[cp, "pause_ms"]) > 0.0, "{cp}: {r}");
    }
    // The first checkpoint uploads the whole state (files identical across partitions go up once); the one
    // after 1 % of the cards changed uploads a small part of it.
    assert!(
        u(&r, &["full", "uploaded_bytes"]) > u(&r, &["full", "state_bytes"]) / 2,
        "{r}"
    );
    assert!(
        u(&r, &["incremental", "uploaded_bytes"]) < u(&r, &["full", "state_bytes"]) / 5,
        "{r}"
    );
    let changed = u(&r, &["change", "cards_touched"]);
    assert!(
        changed > 0 && changed < u(&r, &["load", "cards_touched"]) / 10,
        "{r}"
    );

    for rec in ["recovery_local", "recovery_s3"] {
        assert!(f(&r, &[rec, "first_decision_ms"]) > 0.0, "{rec}: {r}");
        assert!(u(&r, &[rec, "pending_records"]) >= 1_000, "{rec}: {r}");
        // Both replay the tail committed after the last checkpoint.
        assert!(u(&r, &[rec, "replayed_records"]) > 0, "{rec}: {r}");
    }
    assert_eq!(u(&r, &["recovery_local", "downloaded_bytes"]), 0, "{r}");
    assert_eq!(
        u(&r, &["recovery_s3", "downloaded_partitions"]),
        u(&r, &["partitions"]),
        "{r}"
    );
    // The empty directory gets every file of the newest checkpoint.
    assert_eq!(
        u(&r, &["recovery_s3", "downloaded_bytes"]),
        u(&r, &["incremental", "state_bytes"]),
        "{r}"
    );
    let _ = std::fs::remove_file(&out);
}
