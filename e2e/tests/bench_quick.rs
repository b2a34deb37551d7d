//! `sluice-bench run --quick` works end to end against the real broker: both systems drain the same
//! pre-loaded input, latency samples are collected for both, and a result file is written. This proves the
//! harness, not the speed (debug build, tiny sizes); the real numbers come from the full run in
//! docs/benchmarks.md.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use sluice_e2e::binaries::binary;
use sluice_e2e::testbed::ENV_KAFKA;
use sluice_e2e::{TestBed, unique_name};

#[test]
fn quick_benchmark_measures_both_systems() {
    let bed = TestBed::with_kafka().unwrap();
    let out = sluice_e2e::cache::run_root().join(format!("{}.json", unique_name("bench-quick")));
    let status = Command::new(binary("sluice-bench").unwrap())
        .args(["run", "--quick", "--out"])
        .arg(&out)
        .env(ENV_KAFKA, bed.kafka_bootstrap())
        .status()
        .unwrap();
    assert!(status.success(), "sluice-bench failed: {status}");
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let input = result["input_records"].as_u64().unwrap();
    assert!(input > 20_000, "{result}");
    for system in ["sluice", "ceiling"] {
        let drain = &result[system]["drain"];
        assert_eq!(drain["records"].as_u64(), Some(input), "{system}: {result}");
        assert!(
            drain["records_per_sec"].as_f64().unwrap() > 0.0,
            "{system}: {result}"
        );
        assert!(
            drain["peak_rss_mib"].as_f64().unwrap() > 0.0,
            "{system}: {result}"
        );
        assert!(
            result[system]["latency"]["samples"].as_u64().unwrap() > 1_000,
            "{system}: {result}"
        );
    }
    let _ = std::fs::remove_file(&out);
}
