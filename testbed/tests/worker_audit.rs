//! The Iceberg audit table under crashes, against real Kafka and the real S3 server: workers are SIGKILLed and
//! aborted at the audit crash points (before the Iceberg commit, and after it before anything else), while
//! input keeps arriving. At the end the table must hold every committed decision exactly once, byte for byte
//! what read_committed consumers of `decisions` see, and those must match the independent oracle.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sluice_audit::{AsOf, AuditTable};
use sluice_cli::verify::read::read_topic;
use sluice_core::processor::DecisionRecord;
use sluice_testbed::input::InputBatches;
use sluice_testbed::job_harness::{JobHarness, WorkerSpec};
use sluice_testbed::process::ManagedProcess;
use sluice_testbed::rng::Lcg;
use sluice_testbed::testbed::{S3_ACCESS_KEY, S3_SECRET_KEY, s3_client};
use sluice_testbed::{TestBed, unique_name};
use sluice_worker::audit::config::table_config;

const PARTITIONS: i32 = 2;
const JOB_YAML: &str = "commitInterval: 100ms\ncommitMaxRecords: 500\nstate:\n  checkpointInterval: 1s\n  retainedCheckpoints: 3\n  blockCacheMib: 16\n  writeBufferMib: 16\n";
const ROUNDS: u64 = 9;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// 400 cards; paced, so input keeps arriving while workers die.
const INPUT: InputBatches = InputBatches {
    cards: 400,
    send_rate: 2_000,
    ..InputBatches::new(500, PARTITIONS as u32)
};

fn spec(crash_point: Option<String>) -> WorkerSpec {
    WorkerSpec {
        slot: "a".into(),
        identity: "audit-w0".into(),
        partitions: (0..PARTITIONS).collect(),
        crash_point,
        ..WorkerSpec::default()
    }
}

/// Opens the audit table from the worker's settings plus the test's S3 keys (the worker reads them from its
/// environment). Call inside the runtime that uses it: the catalog's connections are bound to it.
async fn open_table(h: &JobHarness) -> AuditTable {
    let mut cfg = table_config(&h.job, h.job.audit.as_ref().unwrap());
    let s3 = cfg.s3.as_mut().unwrap();
    s3.access_key_id = Some(S3_ACCESS_KEY.into());
    s3.secret_access_key = Some(S3_SECRET_KEY.into());
    AuditTable::open(cfg).await.unwrap()
}

/// Waits until the table covers every authorization (the scheduled checkpoints append the rest).
fn wait_table_complete(h: &JobHarness) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &h.bootstrap)
        .create()
        .unwrap();
    let ends: Vec<i64> = (0..PARTITIONS)
        .map(|p| {
            consumer
                .fetch_watermarks(&h.job.topics.authorizations, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let covered = rt()
            .block_on(async { open_table(h).await.committed_offsets().await })
            .unwrap();
        let done =
            (0..PARTITIONS).all(|p| covered.get(&p).copied().unwrap_or(0) >= ends[p as usize]);
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "table covers {covered:?}, inputs end at {ends:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn audit_table_holds_every_committed_decision_once_through_kills_and_crash_points() {
    let bed = TestBed::with_kafka_and_s3().unwrap();
    let endpoint = bed.s3_endpoint().to_string();
    let bucket = unique_name("audit");
    rt().block_on(s3_client(&endpoint).create_bucket().bucket(&bucket).send())
        .unwrap();
    let dir = sluice_testbed::cache::run_root().join(unique_name("audit-test"));
    // PLAINTEXT, unlike the other worker tests: `sluice audit` reaches Kafka through the job's config, and
    // on SASL_SSL it does not yet read the SASL credential files the workers read (issue #22).
    let mut h = JobHarness::new(bed.kafka_bootstrap(), &dir, PARTITIONS, JOB_YAML).unwrap();
    h.with_store(&format!("s3://{bucket}/store"), Some(&endpoint));
    h.with_audit_table(&bucket);

    // Rounds: a worker runs while a batch arrives; it dies by SIGKILL at a random moment or aborts at an
    // audit crash point (each reached at the first audit append after a checkpoint of that run).
    let mut rng = Lcg(0x5eed_a0d1);
    let mut aborted_at = BTreeMap::<&str, u32>::new();
    for round in 0..ROUNDS {
        let crash_point = match round % 3 {
            0 => Some("before_audit_commit"),
            1 => Some("after_audit_commit"),
            _ => None,
        };
        let mut w = h
            .start(&spec(crash_point.map(|f| format!("{f}:1"))))
            .unwrap();
        INPUT.produce(&h, round, 300 + rng.below(300)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        match crash_point {
            Some(name) => {
                // Wait for the abort; a checkpoint every second reaches the point soon.
                while w.process.try_exit().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(100));
                }
                match w.process.try_exit() {
                    Some(status) if ManagedProcess::is_crash_point_abort(status) => {
                        *aborted_at.entry(name).or_default() += 1;
                    }
                    Some(status) => panic!(
                        "worker exited with {status}, not the crash point's abort: {}",
                        w.process.log_tail(40)
                    ),
                    None => w.process.kill_live().unwrap(),
                }
            }
            None => {
                std::thread::sleep(Duration::from_millis(500 + rng.below(2_500)));
                w.process.kill_live().unwrap();
            }
        }
    }
    for name in ["before_audit_commit", "after_audit_commit"] {
        assert!(
            aborted_at.get(name).copied().unwrap_or(0) > 0,
            "crash point {name} never reached: {aborted_at:?}; logs in {}",
            dir.display()
        );
    }

    // A clean run catches up, and its scheduled checkpoints bring the table to the committed frontier.
    let mut w = h.start(&spec(None)).unwrap();
    h.wait_caught_up(std::slice::from_mut(&mut w), Duration::from_secs(180))
        .unwrap();
    wait_table_complete(&h);
    h.stop_all(vec![w]).unwrap();

    let report = h.verify().unwrap();
    assert!(report.ok(), "{report:#?}");

    // What read_committed consumers see …
    let topic = read_topic(
        &(&h.bootstrap).into(),
        &h.job.topics.decisions,
        PARTITIONS as usize,
        Duration::from_secs(60),
    )
    .unwrap();
    let mut published = BTreeMap::new();
    for msg in topic.iter().flatten() {
        use rdkafka::Message;
        let bytes = msg.payload().unwrap().to_vec();
        let rec: DecisionRecord = serde_json::from_slice(&bytes).unwrap();
        assert!(published.insert(rec.txn_id.clone(), bytes).is_none());
    }
    // … is exactly what the table holds, once each.
    let table_rows = rt().block_on(async {
        let table = open_table(&h).await;
        let rows = table.all_rows(AsOf::Current).await.unwrap();
        let snapshots = table.snapshots().await.unwrap();
        assert!(
            snapshots.len() > 2,
            "only {} audit snapshots",
            snapshots.len()
        );
        assert_eq!(
            table.row_count(AsOf::Current).await.unwrap(),
            rows.len() as u64
        );
        rows
    });
    let mut in_table = BTreeMap::new();
    for row in &table_rows {
        let bytes = serde_json::to_vec(row).unwrap();
        assert!(
            in_table.insert(row.txn_id.clone(), bytes).is_none(),
            "txn {} twice in the audit table",
            row.txn_id
        );
    }
    assert_eq!(in_table.len() as u64, report.actual_decisions);
    assert_eq!(report.actual_decisions, report.expected_decisions);
    let missing: Vec<_> = published
        .keys()
        .filter(|k| !in_table.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "decisions missing from the table: {missing:?}"
    );
    let differing: Vec<_> = published
        .iter()
        .filter(|(k, v)| in_table.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .take(5)
        .collect();
    assert!(
        differing.is_empty(),
        "rows differ from the published decisions: {differing:?}"
    );

    // The CLI: explain finds a row; reproduce recomputes it byte for byte (one early, one late decision, so
    // both the empty-state and — when a retained snapshot precedes it — the snapshot path are exercised).
    let config = h.write_config(&spec(None)).unwrap();
    let mut by_offset: Vec<&DecisionRecord> = table_rows.iter().collect();
    by_offset.sort_by_key(|r| (r.source_partition, r.source_offset));
    for row in [by_offset[0], by_offset[by_offset.len() - 1]] {
        let explain = sluice_cli(&[
            "audit",
            "explain",
            "--job",
            config.to_str().unwrap(),
            "--txn-id",
            &row.txn_id,
        ]);
        assert!(
            explain.contains(&row.txn_id) && explain.contains("snapshot"),
            "{explain}"
        );
        let reproduce = sluice_cli(&[
            "audit",
            "reproduce",
            "--job",
            config.to_str().unwrap(),
            "--txn-id",
            &row.txn_id,
        ]);
        assert!(reproduce.contains("byte-identical"), "{reproduce}");
        eprintln!("{reproduce}");
    }
    eprintln!(
        "audit: {} rows = {} decisions = {} expected; aborts {aborted_at:?}",
        in_table.len(),
        published.len(),
        report.expected_decisions
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `sluice` CLI with the test S3 credentials; its stdout (a failed run fails the test).
fn sluice_cli<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    sluice_testbed::binaries::sluice_cli(args).unwrap_or_else(|e| panic!("{e}"))
}
