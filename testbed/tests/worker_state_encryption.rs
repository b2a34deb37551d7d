//! State encrypted at rest (`state.encryption`), against the real S3 server and Kafka broker:
//! - a job without encryption leaves card ids readable in its bucket (so the check below can fail);
//! - with encryption every object of the store is sealed (AES-256-GCM, the key id in its header and in the
//!   manifests) and no card id is readable;
//! - a worker on an empty disk restores the sealed checkpoint; after a key rotation (a second key becomes
//!   current, the first stays) new objects carry the new key and a stop-with-savepoint restores on another empty
//!   disk; a wrong key under the old id makes the worker exit naming the object and the key id, and so does a
//!   worker given no keys;
//! - `sluice verify` (independent oracle) finds everything exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sluice_api::control_client::ControlClient;
use sluice_crds::control::SnapshotState;
use sluice_crds::job_config::StateEncryption;
use sluice_store::sealed::{Keyring, MAGIC};
use sluice_testbed::input::InputBatches;
use sluice_testbed::job_harness::{JobHarness, RunningWorker, WorkerSpec};
use sluice_testbed::testbed::{bucket_objects, s3_client};
use sluice_testbed::{TestBed, unique_name};

const PARTITIONS: i32 = 2;
const INPUT: InputBatches = InputBatches {
    cards: 400,
    ..InputBatches::new(77, PARTITIONS as u32)
};
/// Checkpoints only when the test asks: which objects exist is then the test's doing.
const JOB_YAML: &str = "commitInterval: 100ms\ncommitMaxRecords: 500\nstate:\n  checkpointInterval: 1h\n  retainedCheckpoints: 3\n  blockCacheMib: 16\n  writeBufferMib: 16\n";
const K1: &str = "c2x1aWNlLXRlc3Qta2V5LW9uZS0zMi1ieXRlcy0hISE=";
const K2: &str = "c2x1aWNlLXRlc3Qta2V5LXR3by0zMi1ieXRlcy0hISE=";
const K1_WRONG: &str = "c2x1aWNlLXdyb25nLWtleS0wMDAtMzItYnl0ZXMhISE=";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Every object of `bucket`: (key, bytes).
fn objects(endpoint: &str, bucket: &str) -> Vec<(String, Vec<u8>)> {
    rt().block_on(bucket_objects(endpoint, bucket)).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn job(bed: &TestBed, dir: &Path, encrypt: Option<&str>) -> (JobHarness, String) {
    let mut h = JobHarness::on_bed(bed, dir, PARTITIONS, JOB_YAML).unwrap();
    let bucket = unique_name("sealed");
    rt().block_on(
        s3_client(bed.s3_endpoint())
            .create_bucket()
            .bucket(&bucket)
            .send(),
    )
    .unwrap();
    h.with_store(&format!("s3://{bucket}/store"), Some(bed.s3_endpoint()));
    h.job.state.encryption = encrypt.map(|k| StateEncryption {
        current_key: k.into(),
        allow_plaintext: false,
    });
    (h, bucket)
}

fn keys_dir(dir: &Path, name: &str, keys: &[(&str, &str)]) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (id, key) in keys {
        std::fs::write(d.join(id), format!("{key}\n")).unwrap();
    }
    d
}

fn start(h: &JobHarness, slot: &str, keys: Option<&Path>) -> RunningWorker {
    let mut spec = WorkerSpec {
        slot: slot.into(),
        identity: "p1-w0".into(),
        partitions: (0..PARTITIONS).collect(),
        ..WorkerSpec::default()
    };
    if let Some(k) = keys {
        spec.env
            .push(("SLUICE_STATE_KEYS_DIR".into(), k.display().to_string()));
    }
    h.start(&spec).unwrap()
}

fn client(h: &JobHarness, w: &RunningWorker) -> ControlClient {
    ControlClient::new(&w.control_url, Some(h.token.clone()))
}

/// Catches up, takes a checkpoint, stops cleanly; returns the worker's log.
fn run_and_checkpoint(h: &JobHarness, mut w: RunningWorker) -> String {
    h.wait_caught_up(std::slice::from_mut(&mut w), Duration::from_secs(120))
        .unwrap();
    let c = client(h, &w);
    let id = rt().block_on(c.trigger_checkpoint()).unwrap().id;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = rt().block_on(c.status()).unwrap();
        if let Some(cp) = st.last_checkpoint.filter(|cp| cp.id == id) {
            assert_eq!(cp.state, SnapshotState::Completed, "{cp:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "checkpoint {id} did not complete"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = w.process.log_path().to_path_buf();
    h.stop_all(vec![w]).unwrap();
    std::fs::read_to_string(log).unwrap()
}

#[test]
fn checkpoints_are_sealed_rotate_and_refuse_a_wrong_key() {
    let bed = TestBed::with_kafka_and_s3().unwrap();
    let dir = std::env::temp_dir().join(unique_name("sealed"));
    let endpoint = bed.s3_endpoint().to_string();

    // The control: in plain, card ids are there to be read.
    let (plain, plain_bucket) = job(&bed, &dir.join("plain"), None);
    INPUT.produce(&plain, 0, 3_000).unwrap();
    run_and_checkpoint(&plain, start(&plain, "a", None));
    let readable = objects(&endpoint, &plain_bucket)
        .iter()
        .filter(|(_, bytes)| contains(bytes, b"card-"))
        .count();
    assert!(
        readable > 0,
        "no card id in the plain store: the check cannot fail"
    );

    // Encrypted under k1: every object sealed, nothing readable.
    let (h, bucket) = job(&bed, &dir.join("sealed"), Some("k1"));
    let k1 = keys_dir(&dir, "keys-1", &[("k1", K1)]);
    INPUT.produce(&h, 0, 3_000).unwrap();
    run_and_checkpoint(&h, start(&h, "a", Some(&k1)));
    let first = objects(&endpoint, &bucket);
    assert!(
        first.len() > 3,
        "{:?}",
        first.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    for (key, bytes) in &first {
        assert!(bytes.starts_with(MAGIC), "{key} is not sealed");
        assert_eq!(Keyring::key_id_of(bytes).as_deref(), Some("k1"), "{key}");
        assert!(!contains(bytes, b"card-"), "{key} shows a card id");
    }

    // An empty disk restores the sealed checkpoint; then the key rotates to k2 (k1 kept).
    let k12 = keys_dir(&dir, "keys-12", &[("k1", K1), ("k2", K2)]);
    let mut rotated = h.clone();
    rotated.job.state.encryption = Some(StateEncryption {
        current_key: "k2".into(),
        allow_plaintext: false,
    });
    INPUT.produce(&h, 1, 2_000).unwrap();
    let log = run_and_checkpoint(&rotated, start(&rotated, "b", Some(&k12)));
    assert!(
        log.contains("downloaded state from the checkpoint store"),
        "{log}"
    );
    let second = objects(&endpoint, &bucket);
    let with = |id: &str| {
        second
            .iter()
            .filter(|(_, b)| Keyring::key_id_of(b).as_deref() == Some(id))
            .count()
    };
    assert!(
        with("k2") > 0 && with("k1") > 0,
        "k1 {} k2 {}",
        with("k1"),
        with("k2")
    );
    assert!(second.iter().all(|(_, b)| b.starts_with(MAGIC)));

    // The same id with other bytes: the worker refuses to restore and says which object and key.
    let wrong = keys_dir(&dir, "keys-wrong", &[("k1", K1_WRONG), ("k2", K2)]);
    let mut w = start(&rotated, "c", Some(&wrong));
    let status = w
        .process
        .wait_exit(Duration::from_secs(90))
        .expect("the worker exits");
    assert!(!status.success());
    let said = w.process.log_tail(30);
    assert!(
        said.contains("does not decrypt with key id \"k1\""),
        "{said}"
    );
    assert!(said.contains("s3://"), "{said}");
    // Without the keys at all: refused, naming what is missing.
    let mut w = start(&rotated, "d", None);
    assert!(
        w.process
            .wait_exit(Duration::from_secs(90))
            .is_some_and(|s| !s.success())
    );
    let said = w.process.log_tail(30);
    assert!(said.contains("SLUICE_STATE_KEYS_DIR"), "{said}");

    // Stop with a savepoint (sealed under k2) and restore it on another empty disk.
    let sp = {
        let mut w = start(&rotated, "b", Some(&k12));
        let c = client(&rotated, &w);
        let deadline = Instant::now() + Duration::from_secs(90);
        while !rt().block_on(c.ready()) {
            assert!(Instant::now() < deadline, "{}", w.process.log_tail(30));
            std::thread::sleep(Duration::from_millis(200));
        }
        let resp = rt()
            .block_on(c.stop(true, Some("sp-sealed".into())))
            .unwrap();
        let sp = resp
            .savepoint
            .expect("stop-with-savepoint returns the savepoint");
        assert_eq!(sp.state, SnapshotState::Completed, "{sp:?}");
        assert!(
            w.process
                .wait_exit(Duration::from_secs(30))
                .is_some_and(|s| s.success())
        );
        sp.location.unwrap()
    };
    let from_savepoint = rotated.clone();
    let mut spec = WorkerSpec {
        slot: "e".into(),
        identity: "p1-w0".into(),
        partitions: (0..PARTITIONS).collect(),
        restore_from: Some(sp.clone()),
        ..WorkerSpec::default()
    };
    spec.env
        .push(("SLUICE_STATE_KEYS_DIR".into(), k12.display().to_string()));
    INPUT.produce(&h, 2, 2_000).unwrap();
    let mut w = from_savepoint.start(&spec).unwrap();
    from_savepoint
        .wait_caught_up(std::slice::from_mut(&mut w), Duration::from_secs(120))
        .unwrap();
    from_savepoint.stop_all(vec![w]).unwrap();

    let report = h.verify().unwrap();
    assert_eq!(report.unprocessed_records, 0, "{report:#?}");
    assert!(report.ok(), "{report:#?}");
    assert!(report.actual_decisions >= 6_500, "{report:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}
