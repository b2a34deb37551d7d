//! `sluice-bench run --quick` works end to end against the real broker: both systems drain the same
//! pre-loaded input (with a throughput timeline), latency samples are collected for both, Sluice is killed
//! with SIGKILL mid-phase and recovers with no duplicate and no loss, and the result file and its two PNG
//! plots are written. With `SLUICE_BENCH_QUICK_FLINK=1` the Flink peer runs too (needs Java and Maven), and
//! its latency, timeline and recovery fields are checked (its losses are reported, not asserted). This
//! proves the harness, not the speed (debug build, tiny sizes); the real numbers come from the full run in
//! docs/benchmarks.md.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use sluice_testbed::binaries::binary;
use sluice_testbed::testbed::ENV_KAFKA;
use sluice_testbed::{TestBed, unique_name};

#[test]
fn quick_benchmark_measures_both_systems() {
    let bed = TestBed::with_kafka().unwrap();
    let out =
        sluice_testbed::cache::run_root().join(format!("{}.json", unique_name("bench-quick")));
    let with_flink = std::env::var("SLUICE_BENCH_QUICK_FLINK").is_ok_and(|v| v == "1");
    let status = Command::new(binary("sluice-bench").unwrap())
        .args(["run", "--quick", "--out"])
        .arg(&out)
        .args(with_flink.then_some("--flink"))
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
        assert_latency_distribution(&result[system]["latency"], system);
        assert_committed_timeline(&drain["timeline"], input, system);
    }
    assert_recovered_exactly_once(&result["sluice"]["recovery"], "sluice");
    if with_flink {
        let flink = &result["flink"];
        assert!(
            flink["latency"]["samples"].as_u64().unwrap() > 1_000,
            "{flink}"
        );
        assert_latency_distribution(&flink["latency"], "flink");
        assert_committed_timeline(&flink["drain"]["timeline"], input, "flink");
        // Flink's losses after kill -9 are reported, not asserted: the peer currently loses inputs after a
        // restore (cause not yet established; see docs/benchmarks.md).
        let rec = &flink["recovery"];
        assert!(
            rec["first_new_decision_ms"].as_f64().unwrap() > 0.0,
            "{rec}"
        );
        assert!(
            rec["restored_from"].as_str().unwrap().contains("chk-"),
            "{rec}"
        );
        let e = &rec["exactly_once"];
        assert!(
            e["window_authorizations"].as_u64().unwrap() > 1_000,
            "{rec}"
        );
        assert_eq!(e["duplicates"].as_u64(), Some(0), "{rec}");
        assert!(e["losses"].as_u64().is_some(), "{rec}");
        assert!(result["sluice_vs_flink_latency"]["p99"].as_f64().unwrap() > 0.0);
    } else {
        assert!(result["flink"].is_null(), "{result}");
    }
    let plots: Vec<&str> = result["plots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(plots.len(), 2, "{result}");
    for plot in &plots {
        let png = std::fs::read(plot).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{plot} is not a PNG");
        let _ = std::fs::remove_file(plot);
    }
    assert!(plots[0].ends_with(".latency-cdf.png") && plots[1].ends_with(".throughput.png"));
    let _ = std::fs::remove_file(&out);
}

/// Percentiles are ordered and the CDF points rise to the maximum.
fn assert_latency_distribution(latency: &serde_json::Value, system: &str) {
    let p = |k: &str| latency[k].as_f64().unwrap();
    assert!(
        p("p50_ms") <= p("p99_ms") && p("p99_ms") <= p("p999_ms") && p("p999_ms") <= p("max_ms"),
        "{system}: {latency}"
    );
    let cdf = latency["cdf"].as_array().unwrap();
    assert!(cdf.len() > 100, "{system}: {latency}");
    let last = cdf.last().unwrap().as_array().unwrap();
    assert_eq!(last[0].as_f64(), Some(1.0), "{system}");
    assert_eq!(last[1].as_f64(), Some(p("max_ms")), "{system}");
}

/// Committed-offset samples never go back and end at the whole input.
fn assert_committed_timeline(timeline: &serde_json::Value, input: u64, system: &str) {
    let samples = timeline.as_array().unwrap();
    assert!(samples.len() >= 2, "{system}: {timeline}");
    let committed: Vec<i64> = samples
        .iter()
        .map(|s| s["committed"].as_i64().unwrap())
        .collect();
    assert!(
        committed.windows(2).all(|w| w[0] <= w[1]),
        "{system}: {timeline}"
    );
    assert_eq!(committed.last().copied(), Some(input as i64), "{system}");
}

/// After kill -9 and restart: a new decision was committed, and no window input was lost or duplicated.
fn assert_recovered_exactly_once(recovery: &serde_json::Value, system: &str) {
    assert!(
        recovery["first_new_decision_ms"].as_f64().unwrap() > 0.0,
        "{system}: {recovery}"
    );
    let e = &recovery["exactly_once"];
    assert!(
        e["window_authorizations"].as_u64().unwrap() > 1_000,
        "{system}: {recovery}"
    );
    assert_eq!(e["duplicates"].as_u64(), Some(0), "{system}: {recovery}");
    assert_eq!(e["losses"].as_u64(), Some(0), "{system}: {recovery}");
}
