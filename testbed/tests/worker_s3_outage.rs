//! The checkpoint store going away: processing and transactional commits continue while checkpoints fail and
//! retry with backoff; when the S3 server returns, checkpoints complete again and a worker on an empty disk
//! restores from them with the output still exactly-once. And past `tolerableFailedCheckpoints` the worker
//! fails fast (exits non-zero) instead of running on without a restorable state. Rotated S3 keys (files, as
//! a mounted Secret) are picked up by a running worker.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sluice_api::control_client::ControlClient;
use sluice_audit::AuditTable;
use sluice_crds::control::{SnapshotState, WorkerStatus};
use sluice_generator::GeneratorConfig;
use sluice_testbed::job_harness::{JobHarness, RunningWorker, WorkerSpec};
use sluice_testbed::testbed::s3_client;
use sluice_testbed::{S3Server, TestBed, unique_name};
use sluice_worker::audit::config::table_config;

const PARTITIONS: i32 = 2;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn create_bucket(endpoint: &str) -> String {
    let bucket = unique_name("outage");
    rt().block_on(s3_client(endpoint).create_bucket().bucket(&bucket).send())
        .unwrap();
    bucket
}

fn status(h: &JobHarness, w: &RunningWorker) -> WorkerStatus {
    rt().block_on(ControlClient::new(&w.control_url, Some(h.token.clone())).status())
        .unwrap()
}

fn committed_total(s: &WorkerStatus) -> i64 {
    s.partitions.iter().flat_map(|p| p.committed_offsets).sum()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `authorizations` over `cards` cards at `rate` records/s on a thread; joins to the records produced.
fn steady_input(
    h: &JobHarness,
    seed: u64,
    cards: u64,
    authorizations: u64,
    rate: u32,
) -> std::thread::JoinHandle<u64> {
    let (bootstrap, topics) = (h.bootstrap.clone(), h.job.topics.clone());
    std::thread::spawn(move || {
        let g = GeneratorConfig {
            seed,
            cards,
            partitions: PARTITIONS as u32,
            authorizations,
            events_per_second: rate,
            ..GeneratorConfig::default()
        };
        sluice_cli::produce::produce(&bootstrap, &topics, g, rate, |_| {})
            .unwrap()
            .records
    })
}

/// A job whose checkpoint store is an S3 server of its own (stopped, restarted or re-keyed by the test),
/// checkpointing every `interval` and tolerating any number of failed checkpoints.
fn job_on_its_own_store(
    bed: &TestBed,
    name: &str,
    interval: &str,
) -> (PathBuf, S3Server, JobHarness) {
    let dir = sluice_testbed::cache::run_root().join(unique_name(name));
    let s3 = S3Server::start(&dir.join("s3")).unwrap();
    let bucket = create_bucket(&s3.endpoint());
    let job = format!(
        "commitInterval: 100ms\nstate:\n  checkpointInterval: {interval}\n  tolerableFailedCheckpoints: 1000\n  blockCacheMib: 16\n  writeBufferMib: 16\n"
    );
    let mut h = JobHarness::on_bed(bed, &dir, PARTITIONS, &job).unwrap();
    h.with_store(&format!("s3://{bucket}/store"), Some(&s3.endpoint()));
    (dir, s3, h)
}

fn spec(slot: &str) -> WorkerSpec {
    WorkerSpec {
        slot: slot.into(),
        identity: "p1-w0".into(),
        partitions: vec![0, 1],
        ..WorkerSpec::default()
    }
}

#[test]
fn an_s3_outage_stops_checkpoints_but_not_processing_and_loses_nothing() {
    let bed = TestBed::with_kafka().unwrap();
    let (dir, mut s3, mut h) = job_on_its_own_store(&bed, "outage-test", "500ms");

    let mut w = h.start(&spec("a")).unwrap();
    // Steady input for the whole outage: 8000 authorizations at ~500 records/s.
    let producer = steady_input(&h, 5, 500, 8_000, 500);
    wait_for("a completed checkpoint", Duration::from_secs(90), || {
        assert!(w.process.try_exit().is_none(), "{}", w.process.log_tail(40));
        rt().block_on(ControlClient::new(&w.control_url, Some(h.token.clone())).ready())
            && status(&h, &w)
                .last_checkpoint
                .is_some_and(|c| c.state == SnapshotState::Completed)
    });

    s3.stop();
    let before = committed_total(&status(&h, &w));
    wait_for(
        "checkpoint failures during the outage",
        Duration::from_secs(60),
        || status(&h, &w).consecutive_failed_checkpoints >= 2,
    );
    std::thread::sleep(Duration::from_secs(3));
    let during = status(&h, &w);
    assert!(
        committed_total(&during) > before,
        "commits must continue during the outage ({before} → {})",
        committed_total(&during)
    );
    assert!(
        w.process.try_exit().is_none(),
        "the worker must survive the outage"
    );

    s3.start_again().unwrap();
    wait_for("checkpoints to recover", Duration::from_secs(60), || {
        let s = status(&h, &w);
        s.consecutive_failed_checkpoints == 0
            && s.last_checkpoint
                .is_some_and(|c| c.state == SnapshotState::Completed)
    });
    let metrics = rt().block_on(async {
        reqwest::get(&w.metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        metrics.contains("sluice_checkpoint_failures_total{kind=\"checkpoint\"}"),
        "{metrics}"
    );

    let produced = producer.join().unwrap();
    h.wait_caught_up(std::slice::from_mut(&mut w), Duration::from_secs(120))
        .unwrap();
    // Lose the disk: the next worker must restore from what reached S3 after the outage.
    w.process.kill();
    let mut fresh = vec![h.start(&spec("b")).unwrap()];
    wait_for(
        "the restored worker to be ready",
        Duration::from_secs(90),
        || rt().block_on(ControlClient::new(&fresh[0].control_url, None).ready()),
    );
    assert!(
        fresh[0]
            .process
            .log_tail(200)
            .contains("downloaded state from the checkpoint store")
    );
    h.wait_caught_up(&mut fresh, Duration::from_secs(60))
        .unwrap();
    h.stop_all(fresh).unwrap();
    let report = h.verify().unwrap();
    assert_eq!(report.input_records, produced);
    assert!(report.ok(), "{report:#?}");

    // Fail fast: with tolerableFailedCheckpoints = 2, an outage makes the worker exit non-zero.
    h.job.state.tolerable_failed_checkpoints = 2;
    let mut strict = h.start(&spec("c")).unwrap();
    wait_for(
        "the strict worker to be ready",
        Duration::from_secs(90),
        || rt().block_on(ControlClient::new(&strict.control_url, None).ready()),
    );
    s3.stop();
    let exit = strict
        .process
        .wait_exit(Duration::from_secs(90))
        .expect("the worker must give up after 3 failed checkpoints");
    assert!(!exit.success());
    assert!(
        strict
            .process
            .log_tail(50)
            .contains("consecutive checkpoints failed"),
        "{}",
        strict.process.log_tail(50)
    );
    drop(s3);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes the key files as the kubelet updates a Secret volume: each file replaced by a rename.
fn write_keys(dir: &std::path::Path, access: &str, secret: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", access),
        ("AWS_SECRET_ACCESS_KEY", secret),
    ] {
        let staged = dir.join(format!(".{name}.new"));
        std::fs::write(&staged, value).unwrap();
        std::fs::rename(&staged, dir.join(name)).unwrap();
    }
}

/// Whether the audit table, read with `keys`, covers every authorization the job's input holds now.
fn audit_complete(h: &JobHarness, keys: (&str, &str)) -> bool {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &h.bootstrap)
        .create()
        .unwrap();
    let topic = &h.job.topics.authorizations;
    let ends: Vec<i64> = (0..PARTITIONS)
        .map(|p| {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            high
        })
        .collect();
    let mut cfg = table_config(&h.job, h.job.audit.as_ref().unwrap());
    let s3 = cfg.s3.as_mut().unwrap();
    s3.access_key_id = Some(keys.0.into());
    s3.secret_access_key = Some(keys.1.into());
    let covered = rt()
        .block_on(async { AuditTable::open(cfg).await?.committed_offsets().await })
        .unwrap();
    (0..PARTITIONS).all(|p| covered.get(&p).copied().unwrap_or(0) >= ends[p as usize])
}

#[test]
fn rotated_s3_keys_are_picked_up_without_a_restart() {
    let bed = TestBed::with_kafka().unwrap();
    let (dir, mut s3, mut h) = job_on_its_own_store(&bed, "s3-keys-test", "1s");
    // The audit table on the same server: its writer must follow the rotation too.
    let store = h.job.state.checkpoint_store.clone().unwrap();
    let bucket = store.trim_start_matches("s3://").split('/').next().unwrap();
    h.with_audit_table(bucket);
    let keys = dir.join("s3-keys");
    write_keys(
        &keys,
        sluice_testbed::testbed::S3_ACCESS_KEY,
        sluice_testbed::testbed::S3_SECRET_KEY,
    );
    let mut worker = spec("a");
    worker.env = vec![
        (
            "SLUICE_S3_CREDENTIALS_DIR".into(),
            keys.display().to_string(),
        ),
        // The environment's pair is wrong: only the files can make checkpoints work.
        ("AWS_ACCESS_KEY_ID".into(), "not-the-key".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "not-the-secret".into()),
    ];
    let mut w = h.start(&worker).unwrap();
    let producer = steady_input(&h, 11, 300, 16_000, 150);
    let completed = |s: &WorkerStatus| {
        s.last_checkpoint
            .as_ref()
            .filter(|c| c.state == SnapshotState::Completed)
            .map(|c| c.id.clone())
    };
    wait_for(
        "a checkpoint with the first keys",
        Duration::from_secs(90),
        || {
            assert!(w.process.try_exit().is_none(), "{}", w.process.log_tail(40));
            rt().block_on(ControlClient::new(&w.control_url, None).ready())
                && completed(&status(&h, &w)).is_some()
        },
    );

    // The keys rotate: the server accepts only the new pair from now on, and the files follow.
    s3.rotate_keys("sluice-rotated", "sluice-rotated-secret")
        .unwrap();
    write_keys(&keys, "sluice-rotated", "sluice-rotated-secret");
    // Until the worker reads the files again (within a minute) its checkpoints fail; then one completes,
    // which neither the old pair nor the environment's could make.
    let before = completed(&status(&h, &w));
    wait_for(
        "a checkpoint with the rotated keys",
        Duration::from_secs(120),
        || {
            assert!(w.process.try_exit().is_none(), "{}", w.process.log_tail(40));
            let s = status(&h, &w);
            s.consecutive_failed_checkpoints == 0 && completed(&s) != before
        },
    );

    let produced = producer.join().unwrap();
    h.wait_caught_up(std::slice::from_mut(&mut w), Duration::from_secs(120))
        .unwrap();
    // Decisions committed after the rotation reach the audit table: only the rotated pair can write them.
    wait_for(
        "the audit table to hold every decision",
        Duration::from_secs(120),
        || {
            assert!(w.process.try_exit().is_none(), "{}", w.process.log_tail(40));
            audit_complete(&h, ("sluice-rotated", "sluice-rotated-secret"))
        },
    );
    let log = w.process.log_tail(2_000);
    assert!(
        log.contains("audit table opened again with rotated S3 keys"),
        "{}",
        w.process.log_tail(60)
    );
    assert!(!log.contains("sluice-rotated-secret"), "a key in the log");
    h.stop_all(vec![w]).unwrap();
    let report = h.verify().unwrap();
    assert_eq!(report.input_records, produced);
    assert!(report.ok(), "{report:#?}");
    drop(s3);
    let _ = std::fs::remove_dir_all(&dir);
}
