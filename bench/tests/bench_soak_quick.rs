//! `sluice-bench soak` works end to end against the real broker and a real S3 server, shortened to one
//! minute at 2,000 records/s with a kill every 15 s and checkpoints every 5 s (debug build): worker 1 is
//! SIGKILLed on schedule, every other time losing its local state, the samples carry both workers' RSS and
//! the caches inside it, the lag, completed checkpoints and their uploaded bytes and the store's object count,
//! and `sluice verify` finds every record once. This proves the harness, never
//! the speed or the memory trend; the hour-long run's figures are in docs/reliability.md.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use sluice_testbed::binaries::binary;
use sluice_testbed::testbed::{ENV_KAFKA, ENV_S3};
use sluice_testbed::{TestBed, unique_name};

#[test]
fn quick_soak_kills_samples_and_verifies_exactly_once() {
    let bed = TestBed::with_kafka_and_s3().unwrap();
    let out = sluice_testbed::cache::run_root().join(format!("{}.soak.json", unique_name("soak")));
    let status = Command::new(binary("sluice-bench").unwrap())
        .args([
            "soak",
            "--minutes",
            "1",
            "--rate",
            "2000",
            "--kill-every-secs",
            "15",
        ])
        .args([
            "--sample-secs",
            "2",
            "--checkpoint-interval-secs",
            "5",
            "--cards",
            "5000",
            "--no-plots",
            "--out",
        ])
        .arg(&out)
        .env(ENV_KAFKA, bed.kafka_bootstrap())
        .env(ENV_S3, bed.s3_endpoint())
        .status()
        .unwrap();
    assert!(status.success(), "sluice-bench soak failed: {status}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();

    let v = &r["verified"];
    assert!(v["input_records"].as_u64().unwrap() >= 100_000, "{v}");
    for k in ["duplicates", "losses", "mismatches"] {
        assert_eq!(v[k], 0, "{k}: {v}");
    }
    let kills = r["kills"].as_array().unwrap();
    assert!(kills.len() >= 3, "{kills:?}");
    assert_eq!(kills[1]["lost_disk"], true, "{kills:?}");
    let samples = r["samples"].as_array().unwrap();
    assert!(samples.len() >= 20, "{} samples", samples.len());
    let rss0: Vec<f64> = samples
        .iter()
        .filter_map(|s| s["rss_mib"][0].as_f64())
        .collect();
    assert!(
        rss0.len() >= 20 && rss0.iter().all(|m| *m > 1.0),
        "{rss0:?}"
    );
    // Each worker's live state is read from its metrics beside its RSS.
    let state0: Vec<f64> = samples
        .iter()
        .filter_map(|s| s["state_mib"][0].as_f64())
        .collect();
    assert!(
        state0.len() >= 20 && state0.iter().any(|m| *m > 0.0),
        "{state0:?}"
    );
    assert!(r["rss_worker0"]["state_end_mib"].is_number());
    let checkpoints: u64 = samples
        .iter()
        .flat_map(|s| s["checkpoints"].as_array().unwrap().iter())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert!(checkpoints >= 4, "{checkpoints} checkpoints");
    // The caches inside worker 0's RSS, the bytes its checkpoints uploaded and the store's objects.
    let figure =
        |key: &str| -> Vec<f64> { samples.iter().filter_map(|s| s[key][0].as_f64()).collect() };
    let block = figure("block_cache_mib");
    assert!(
        block.len() >= 20 && block.iter().any(|m| *m > 0.0),
        "{block:?}"
    );
    let read_cache = figure("read_cache_mib");
    assert!(read_cache.iter().any(|m| *m > 0.0), "{read_cache:?}");
    assert!(figure("table_readers_mib").len() >= 20);
    let uploaded: f64 = figure("uploaded_mib").iter().sum();
    assert!(uploaded > 0.0, "no checkpoint bytes uploaded");
    let objects: Vec<u64> = samples
        .iter()
        .filter_map(|s| s["store_objects"].as_u64())
        .collect();
    assert!(
        objects.len() >= 20 && objects.iter().any(|n| *n > 0),
        "{objects:?}"
    );
    assert!(
        r["rss_worker0"]["rest_growth_pct"].is_number(),
        "{}",
        r["rss_worker0"]
    );
    assert!(
        samples.iter().any(|s| s["lag"].as_i64() > Some(0)),
        "no lag ever seen"
    );
    assert_eq!(samples.last().unwrap()["lag"], 0);
    let windows = r["windows"].as_array().unwrap();
    assert!(windows.len() >= 12, "{windows:?}");
    assert!(
        r["rss_worker0"]["growth_pct"].is_number(),
        "{}",
        r["rss_worker0"]
    );

    // The committed script renders the result as the docs table.
    let table = Command::new("python3")
        .arg(sluice_testbed::cache::repo_root().join("scripts/reliability-table.py"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(table.status.success(), "{table:?}");
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("0 duplicates, 0 losses, 0 mismatches"),
        "{table}"
    );
    let _ = std::fs::remove_file(&out);
}
