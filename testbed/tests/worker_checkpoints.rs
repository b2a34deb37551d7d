//! Durable checkpoints and savepoints against real Kafka and the real S3 server: incremental uploads, restore
//! on fresh disks, savepoint-based rescaling 1 → 3 → 2 with the oracle still matching, a crash between the
//! files and the manifest, and the control API's authentication.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sluice_api::control_client::ControlClient;
use sluice_crds::control::SnapshotState;
use sluice_crds::manifest::SnapshotManifest;
use sluice_testbed::input::InputBatches;
use sluice_testbed::job_harness::{JobHarness, RunningWorker, WorkerSpec};
use sluice_testbed::testbed::s3_client;
use sluice_testbed::{TestBed, unique_name};

const PARTITIONS: i32 = 4;
/// 700 cards; each batch continues in event time after the previous one, so nothing is late by construction.
const INPUT: InputBatches = InputBatches {
    cards: 700,
    ..InputBatches::new(100, PARTITIONS as u32)
};
const JOB_YAML: &str = "commitInterval: 100ms\ncommitMaxRecords: 500\nstate:\n  checkpointInterval: 1s\n  retainedCheckpoints: 2\n  blockCacheMib: 16\n  writeBufferMib: 16\n";
/// Only checkpoints the test asks for: with scheduled ones every second, retention (2) could delete a manifest
/// between the test's request and its read on a busy machine.
const JOB_YAML_TRIGGERED_ONLY: &str = "commitInterval: 100ms\ncommitMaxRecords: 500\nstate:\n  checkpointInterval: 1h\n  retainedCheckpoints: 2\n  blockCacheMib: 16\n  writeBufferMib: 16\n";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn make_bucket(endpoint: &str) -> String {
    let bucket = unique_name("ckpt");
    rt().block_on(s3_client(endpoint).create_bucket().bucket(&bucket).send())
        .unwrap();
    bucket
}

fn client(h: &JobHarness, w: &RunningWorker) -> ControlClient {
    ControlClient::new(&w.control_url, Some(h.token.clone()))
}

fn wait_ready(h: &JobHarness, w: &mut RunningWorker) {
    let c = client(h, w);
    let deadline = Instant::now() + Duration::from_secs(90);
    while !rt().block_on(c.ready()) {
        assert!(
            w.process.try_exit().is_none(),
            "worker died: {}",
            w.process.log_tail(40)
        );
        assert!(
            Instant::now() < deadline,
            "worker not ready: {}",
            w.process.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Triggers a checkpoint and waits until the worker reports it completed; returns its manifest URI.
fn checkpoint(h: &JobHarness, w: &RunningWorker) -> (String, u64) {
    let c = client(h, w);
    let id = rt().block_on(c.trigger_checkpoint()).unwrap().id;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = rt().block_on(c.status()).unwrap();
        if let Some(cp) = st.last_checkpoint.filter(|cp| cp.id == id) {
            assert_eq!(cp.state, SnapshotState::Completed, "{cp:?}");
            return (cp.location.unwrap(), cp.uploaded_bytes);
        }
        assert!(
            Instant::now() < deadline,
            "checkpoint {id} did not complete"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn manifest_at(endpoint: &str, uri: &str) -> SnapshotManifest {
    let rest = uri.strip_prefix("s3://").unwrap();
    let (bucket, key) = rest.split_once('/').unwrap();
    // Request and body in one runtime: the connection task dies with the runtime that spawned it, so reading
    // the body from a second runtime would cut it short.
    let bytes = rt().block_on(async {
        let out = s3_client(endpoint)
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        out.body.collect().await.unwrap().into_bytes()
    });
    serde_json::from_slice(&bytes).unwrap()
}

fn stop_with_savepoint(h: &JobHarness, mut workers: Vec<RunningWorker>, id: &str) -> String {
    let mut location = None;
    for w in &workers {
        let resp = rt()
            .block_on(client(h, w).stop(true, Some(id.to_string())))
            .unwrap();
        let sp = resp
            .savepoint
            .expect("stop-with-savepoint returns the savepoint");
        assert_eq!(sp.state, SnapshotState::Completed, "{sp:?}");
        location = sp.location;
    }
    for w in &mut workers {
        let status = w
            .process
            .wait_exit(Duration::from_secs(30))
            .expect("worker exits after stop");
        assert!(status.success(), "{status}: {}", w.process.log_tail(30));
    }
    location.unwrap()
}

fn spec(slot: &str, identity: &str, partitions: &[i32]) -> WorkerSpec {
    WorkerSpec {
        slot: slot.into(),
        identity: identity.into(),
        partitions: partitions.to_vec(),
        ..WorkerSpec::default()
    }
}

/// The `sluice` CLI with the test S3 credentials; its stdout (a failed run fails the test).
fn sluice_cli<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    sluice_testbed::binaries::sluice_cli(args).unwrap_or_else(|e| panic!("{e}"))
}

fn test_dir() -> PathBuf {
    sluice_testbed::cache::run_root().join(unique_name("ckpt-test"))
}

#[test]
fn incremental_checkpoints_and_savepoint_rescale_1_to_3_to_2_keep_exactly_once() {
    let bed = TestBed::with_kafka_and_s3().unwrap();
    let endpoint = bed.s3_endpoint().to_string();
    let bucket = make_bucket(&endpoint);
    let dir = test_dir();
    let mut h = JobHarness::on_bed(&bed, &dir, PARTITIONS, JOB_YAML_TRIGGERED_ONLY).unwrap();
    h.with_store(&format!("s3://{bucket}/store"), Some(&endpoint));
    let mut produced = INPUT.produce(&h, 0, 5_000).unwrap();

    // Parallelism 1.
    let mut w = h.start(&spec("a", "p1-w0", &[0, 1, 2, 3])).unwrap();
    wait_ready(&h, &mut w);
    h.wait_caught_up(std::slice::from_mut(&mut w), Duration::from_secs(120))
        .unwrap();

    // The control API: open health, 401 without or with a wrong token.
    let anon = ControlClient::new(&w.control_url, None);
    let wrong = ControlClient::new(&w.control_url, Some("not-the-token-at-all".into()));
    for c in [&anon, &wrong] {
        let err = rt().block_on(c.status()).unwrap_err().to_string();
        assert!(err.contains("401"), "{err}");
    }
    let status = rt().block_on(client(&h, &w).status()).unwrap();
    assert_eq!(status.partitions.len(), 4);
    assert!(status.state_bytes > 0);

    // Incremental: a second checkpoint with no new input uploads only files the first did not have.
    let (first, _) = checkpoint(&h, &w);
    let (second, uploaded) = checkpoint(&h, &w);
    let (a, b) = (
        manifest_at(&endpoint, &first),
        manifest_at(&endpoint, &second),
    );
    let old: BTreeSet<&str> = a.objects().collect();
    let shared_ssts = b
        .partitions
        .iter()
        .flat_map(|p| &p.files)
        .filter(|f| f.name.ends_with(".sst") && old.contains(f.object.as_str()))
        .count();
    assert!(
        shared_ssts > 0,
        "the second checkpoint should reuse the first one's SSTs"
    );
    assert!(
        uploaded < b.state_bytes(),
        "uploaded {uploaded} of {} state bytes: not incremental",
        b.state_bytes()
    );
    let expected_upload: u64 = {
        let mut seen = BTreeSet::new();
        b.partitions
            .iter()
            .flat_map(|p| &p.files)
            .filter(|f| !old.contains(f.object.as_str()) && seen.insert(f.object.clone()))
            .map(|f| f.size)
            .sum()
    };
    assert_eq!(
        uploaded, expected_upload,
        "uploaded bytes must be exactly the new objects"
    );

    let metrics = rt().block_on(async {
        reqwest::get(&w.metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        metrics.contains("sluice_checkpoint_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("sluice_records_in_total{topic=\"authorizations\"}"));

    let sp1 = stop_with_savepoint(&h, vec![w], "sp-one");
    produced += INPUT.produce(&h, 1, 3_000).unwrap();

    // Parallelism 3 on empty disks: state comes from the savepoint in S3.
    let old_ids = vec![format!("{}-p1-w0", h.job.transactional_id_prefix)];
    let assignment: [(&str, &[i32]); 3] = [("p3-w0", &[0, 1]), ("p3-w1", &[2]), ("p3-w2", &[3])];
    let mut three: Vec<RunningWorker> = assignment
        .iter()
        .map(|(id, parts)| {
            let mut s = spec(&format!("b-{id}"), id, parts);
            s.fence = old_ids.clone();
            s.restore_from = Some(sp1.clone());
            h.start(&s).unwrap()
        })
        .collect();
    h.wait_caught_up(&mut three, Duration::from_secs(120))
        .unwrap();
    for (id, _) in assignment {
        let log = std::fs::read_to_string(dir.join(format!("worker-{id}.log"))).unwrap();
        assert!(
            log.contains("downloaded state from the checkpoint store"),
            "{id} did not restore from S3:\n{log}"
        );
    }
    // The CLI sees the three workers.
    let mut args = vec!["status".to_string()];
    for w in &three {
        args.extend(["--worker".to_string(), w.control_url.clone()]);
    }
    args.extend([
        "--token-file".to_string(),
        h.token_file.display().to_string(),
    ]);
    let table = sluice_cli(&args);
    for (id, _) in assignment {
        assert!(table.contains(id) && table.contains("running"), "{table}");
    }
    let sp2 = stop_with_savepoint(&h, three, "sp-two");
    produced += INPUT.produce(&h, 2, 3_000).unwrap();

    // Parallelism 2, again from S3.
    let old_ids: Vec<String> = assignment
        .iter()
        .map(|(id, _)| format!("{}-{id}", h.job.transactional_id_prefix))
        .collect();
    let mut two: Vec<RunningWorker> = [("p2-w0", &[0, 1][..]), ("p2-w1", &[2, 3][..])]
        .iter()
        .map(|(id, parts)| {
            let mut s = spec(&format!("c-{id}"), id, parts);
            s.fence = old_ids.clone();
            s.restore_from = Some(sp2.clone());
            h.start(&s).unwrap()
        })
        .collect();
    h.wait_caught_up(&mut two, Duration::from_secs(120))
        .unwrap();
    h.stop_all(two).unwrap();

    let report = h.verify().unwrap();
    assert_eq!(report.input_records, produced);
    assert_eq!(report.unprocessed_records, 0);
    assert!(report.expected_decisions > 10_000, "{report:#?}");
    assert!(
        report.ok(),
        "exactly-once violated across savepoint rescales: {report:#?}"
    );

    // The CLI lists the store and deletes a savepoint.
    let store_args = |cmd: &str| {
        vec![
            "checkpoints".to_string(),
            cmd.to_string(),
            format!("s3://{bucket}/store"),
            "--job".to_string(),
            h.job.transactional_id_prefix.clone(),
            "--s3-endpoint".to_string(),
            endpoint.clone(),
        ]
    };
    let listing = sluice_cli(&store_args("list"));
    assert!(
        listing.contains("sp-one") && listing.contains("sp-two"),
        "{listing}"
    );
    assert!(listing.contains("checkpoint"), "{listing}");
    let mut del = store_args("delete-savepoint");
    del.extend(["--id".to_string(), "sp-one".to_string()]);
    sluice_cli(&del);
    let listing = sluice_cli(&store_args("list"));
    assert!(
        !listing.contains("sp-one") && listing.contains("sp-two"),
        "{listing}"
    );

    // The bearer token never appears in any worker log.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "log") {
            let log = std::fs::read_to_string(&p).unwrap();
            assert!(!log.contains(&h.token), "token leaked into {}", p.display());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A crash after a checkpoint's files are uploaded but before its manifest: the half-written checkpoint is
/// invisible, and a worker on an empty disk restores the previous one from S3 and replays to the frontier.
#[test]
fn crash_between_files_and_manifest_leaves_the_previous_checkpoint_usable() {
    let bed = TestBed::with_kafka_and_s3().unwrap();
    let endpoint = bed.s3_endpoint().to_string();
    let bucket = make_bucket(&endpoint);
    let dir = test_dir();
    let mut h = JobHarness::on_bed(&bed, &dir, PARTITIONS, JOB_YAML).unwrap();
    h.with_store(&format!("s3://{bucket}/store"), Some(&endpoint));
    let produced = INPUT.produce(&h, 0, 12_000).unwrap();

    let mut s = spec("a", "p1-w0", &[0, 1, 2, 3]);
    s.crash_point = Some("before_manifest:2".into());
    let mut w = h.start(&s).unwrap();
    let status = w
        .process
        .wait_exit(Duration::from_secs(120))
        .expect("the crash point aborts the worker");
    assert!(!status.success());
    assert!(
        w.process
            .log_tail(50)
            .contains("crash point before_manifest reached")
    );

    // Same identity, empty disk: the newest complete checkpoint comes from S3.
    let mut again = vec![h.start(&spec("b", "p1-w0", &[0, 1, 2, 3])).unwrap()];
    wait_ready(&h, &mut again[0]);
    h.wait_caught_up(&mut again, Duration::from_secs(120))
        .unwrap();
    let log = again[0].process.log_tail(400);
    assert!(
        log.contains("downloaded state from the checkpoint store"),
        "{log}"
    );
    h.stop_all(again).unwrap();
    let report = h.verify().unwrap();
    assert_eq!(report.input_records, produced);
    assert!(report.ok(), "{report:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What each partition's recovery in `log` (the text appended since `from`) restored and replayed: the
/// `partition recovered` lines' `source` and `replayed_records`.
fn recoveries(log: &std::path::Path, from: usize) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(log).unwrap();
    text.get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("partition recovered"))
        .map(|l| {
            let source = l
                .split("source=")
                .nth(1)
                .and_then(|s| s.split(" replayed_records=").next())
                .unwrap_or_default()
                .to_string();
            let replayed = l
                .split("replayed_records=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap();
            (source, replayed)
        })
        .collect()
}

fn log_len(path: &std::path::Path) -> usize {
    std::fs::metadata(path).map_or(0, |m| m.len() as usize)
}

/// A redeploy from an older savepoint (`SLUICE_RESTORE_FROM` + a new `SLUICE_LINEAGE`, as the operator sets
/// them for `savepointRedeployNonce`) on a disk and a store that hold newer checkpoints: every partition
/// restores the savepoint and replays the committed input since it (none of the newer checkpoints is used),
/// nothing is emitted twice; after a SIGKILL the worker recovers from its own lineage's checkpoint, not the
/// savepoint again and not the older lineage.
#[test]
fn a_redeploy_from_an_older_savepoint_replays_to_the_frontier_in_a_new_lineage() {
    let bed = TestBed::with_kafka_and_s3().unwrap();
    let endpoint = bed.s3_endpoint().to_string();
    let bucket = make_bucket(&endpoint);
    let dir = test_dir();
    let mut h = JobHarness::on_bed(&bed, &dir, PARTITIONS, JOB_YAML_TRIGGERED_ONLY).unwrap();
    h.with_store(&format!("s3://{bucket}/store"), Some(&endpoint));
    let all = [0, 1, 2, 3];
    let mut produced = INPUT.produce(&h, 0, 2_000).unwrap();
    let mut w = h.start(&spec("a", "p1-w0", &all)).unwrap();
    wait_ready(&h, &mut w);
    h.wait_caught_up(std::slice::from_mut(&mut w), Duration::from_secs(120))
        .unwrap();
    let savepoint = stop_with_savepoint(&h, vec![w], "sp-before");

    // The original lineage goes on past the savepoint, with a local and a store checkpoint.
    produced += INPUT.produce(&h, 1, 2_000).unwrap();
    let mut w = h.start(&spec("a", "p1-w0", &all)).unwrap();
    wait_ready(&h, &mut w);
    h.wait_caught_up(std::slice::from_mut(&mut w), Duration::from_secs(120))
        .unwrap();
    checkpoint(&h, &w);
    h.stop_all(vec![w]).unwrap();

    let log = dir.join("worker-p1-w0.log");
    let redeployed = || {
        let mut s = spec("a", "p1-w0", &all);
        s.restore_from = Some(savepoint.clone());
        s.env = vec![("SLUICE_LINEAGE".into(), "rd-test-1".into())];
        s
    };
    let from = log_len(&log);
    let mut w = h.start(&redeployed()).unwrap();
    wait_ready(&h, &mut w);
    let recovered = recoveries(&log, from);
    assert_eq!(recovered.len(), all.len(), "{recovered:?}");
    for (source, replayed) in &recovered {
        assert!(
            source.contains("sp-before"),
            "not the savepoint: {recovered:?}"
        );
        assert!(
            *replayed > 0,
            "nothing replayed since the savepoint: {recovered:?}"
        );
    }

    // The new lineage checkpoints; a SIGKILL then recovers from that checkpoint on the same disk.
    produced += INPUT.produce(&h, 2, 2_000).unwrap();
    h.wait_caught_up(std::slice::from_mut(&mut w), Duration::from_secs(120))
        .unwrap();
    checkpoint(&h, &w);
    w.process.kill_live().unwrap();
    let from = log_len(&log);
    let mut w = h.start(&redeployed()).unwrap();
    wait_ready(&h, &mut w);
    let recovered = recoveries(&log, from);
    assert_eq!(recovered.len(), all.len(), "{recovered:?}");
    for (source, _) in &recovered {
        assert_eq!(source, "Local", "{recovered:?}");
    }
    produced += INPUT.produce(&h, 3, 1_000).unwrap();
    h.wait_caught_up(std::slice::from_mut(&mut w), Duration::from_secs(120))
        .unwrap();
    h.stop_all(vec![w]).unwrap();

    let report = h.verify().unwrap();
    assert_eq!(report.input_records, produced);
    assert_eq!(report.unprocessed_records, 0);
    assert!(report.ok(), "{report:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}
