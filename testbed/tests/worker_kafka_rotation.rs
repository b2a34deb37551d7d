//! Kafka SASL credentials rotated under load, without restarting the worker.
//!
//! The broker's SASL_SSL listener (SCRAM-SHA-512) makes every session re-authenticate every
//! `SCRAM_REAUTH` (`connections.max.reauth.ms`, KIP-368), so a client that keeps stale credentials loses
//! its connections within seconds. The worker reads its credentials from a directory written the way the
//! kubelet writes a Secret volume (both files replaced in one rename). A rotation is what an administrator
//! (or a secret server with dynamic users) does: create a new SCRAM user, write its name and password into
//! the files, wait until the worker has replaced its clients (a broker refuses a re-authentication under
//! another principal, so new credentials need new connections), delete the old user. Two rotations run while
//! input arrives at a live rate. The worker must stay up, the broker must see no failed authentication, the
//! output must match the oracle exactly, and a worker given the deleted user's credentials must be refused.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sluice_testbed::KafkaBroker;
use sluice_testbed::binaries::binary;
use sluice_testbed::cache::run_root;
use sluice_testbed::job_harness::{JobHarness, RunningWorker, WorkerSpec};
use sluice_testbed::services::kafka::{SASL_PASSWORD, SASL_USER, SCRAM_REAUTH};
use sluice_testbed::unique_name;

const PARTITIONS: i32 = 2;
/// Lines the broker logs for a refused authentication or re-authentication.
const FAILED_AUTH: &str = "authentication with /";
/// What the worker logs when it read new credentials, and when its clients were replaced.
const PICKED_UP: &str = "Kafka credential files changed";
const REPLACED: &str = "Kafka clients replaced after a credential rotation";

/// A Secret volume as the kubelet writes it: `username` and `password` are symlinks through `..data`, and a
/// new version is a new directory that `..data` is switched to in one rename, so a reader sees either the
/// old pair or the new one.
struct SecretVolume {
    dir: PathBuf,
    version: u32,
}

impl SecretVolume {
    fn new(dir: &Path, username: &str, password: &str) -> SecretVolume {
        std::fs::create_dir_all(dir).unwrap();
        let mut volume = SecretVolume {
            dir: dir.to_path_buf(),
            version: 0,
        };
        volume.write(username, password);
        for key in ["username", "password"] {
            std::os::unix::fs::symlink(format!("..data/{key}"), dir.join(key)).unwrap();
        }
        volume
    }

    fn write(&mut self, username: &str, password: &str) {
        self.version += 1;
        let version = format!("..v{}", self.version);
        let target = self.dir.join(&version);
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("username"), username).unwrap();
        std::fs::write(target.join("password"), format!("{password}\n")).unwrap();
        let staged = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&version, &staged).unwrap();
        std::fs::rename(&staged, self.dir.join("..data")).unwrap();
    }

    fn env(&self) -> Vec<(String, String)> {
        let path = |key: &str| self.dir.join(key).display().to_string();
        vec![
            ("SLUICE_KAFKA_SASL_USERNAME_FILE".into(), path("username")),
            ("SLUICE_KAFKA_SASL_PASSWORD_FILE".into(), path("password")),
        ]
    }
}

/// A copy of the job whose clients use the SCRAM listener, trusting the CA in `ca_file`.
fn over_scram(h: &JobHarness, broker: &KafkaBroker, ca_file: &Path) -> JobHarness {
    let mut h = h.clone();
    let kafka = h.job.kafka.as_mut().unwrap();
    kafka.bootstrap_servers = broker.sasl_ssl_bootstrap();
    for (k, v) in [
        ("security.protocol", "SASL_SSL".to_string()),
        ("sasl.mechanism", "SCRAM-SHA-512".to_string()),
        ("ssl.ca.location", ca_file.display().to_string()),
    ] {
        kafka.properties.insert(k.into(), v);
    }
    h
}

fn count_in(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// Panics unless the worker is still running and the broker has refused no authentication.
fn assert_undisturbed(worker: &mut RunningWorker, broker: &KafkaBroker, when: &str) {
    if let Some(status) = worker.process.try_exit() {
        panic!(
            "{when}: the worker exited ({status}): {}",
            worker.process.log_tail(40)
        );
    }
    let failed = count_in(&broker.log_path(), FAILED_AUTH);
    assert_eq!(
        failed,
        0,
        "{when}: the broker refused {failed} authentications; worker log: {}",
        worker.process.log_tail(40)
    );
}

/// The base64 body of the certificate `addr` presents in a TLS handshake (verified against `ca`), by
/// `openssl s_client`.
fn presented_certificate(addr: &str, ca: &Path) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            addr,
            "-verify_return_error",
            "-CAfile",
        ])
        .arg(ca)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let begin = "-----BEGIN CERTIFICATE-----";
    let Some(start) = text.find(begin) else {
        panic!(
            "no certificate from {addr}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let end = text[start..].find("-----END CERTIFICATE-----").unwrap() + start;
    text[start + begin.len()..end].split_whitespace().collect()
}

/// The base64 body of the first certificate in a PEM file.
fn pem_body(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("-----BEGIN CERTIFICATE-----").unwrap() + 27;
    let end = text.find("-----END CERTIFICATE-----").unwrap();
    text[start..end].split_whitespace().collect()
}

/// Waits until the worker has logged `n` credential pick-ups.
fn wait_picked_up(worker: &RunningWorker, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while count_in(worker.process.log_path(), PICKED_UP) < n {
        assert!(
            Instant::now() < deadline,
            "the worker did not pick up rotation {n}: {}",
            worker.process.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rotated_credentials_and_certificates_are_followed_without_a_restart() {
    let started = Instant::now();
    let broker = KafkaBroker::start(&run_root().join(unique_name("kafka-rotation"))).unwrap();
    let dir = run_root().join(unique_name("sasl-rotation"));
    let yaml = "commitInterval: 100ms\nstate:\n  blockCacheMib: 16\n  writeBufferMib: 16\n";
    // Topics are created, the input produced and the output verified over PLAINTEXT; the worker's every
    // client uses the SCRAM listener.
    let h = JobHarness::new(&broker.bootstrap(), &dir, PARTITIONS, yaml).unwrap();
    let job_file = h.write_config(&WorkerSpec::default()).unwrap();
    let mut volume = SecretVolume::new(&dir.join("kafka-sasl"), SASL_USER, SASL_PASSWORD);
    let spec = WorkerSpec {
        slot: "w0".into(),
        identity: "w0".into(),
        partitions: (0..PARTITIONS).collect(),
        env: volume.env(),
        ..WorkerSpec::default()
    };
    // The CA file the worker trusts, its own copy (a TLS Secret's file in a pod).
    let ca_file = dir.join("kafka-ca.crt");
    std::fs::copy(broker.tls().ca_cert, &ca_file).unwrap();
    let scram = over_scram(&h, &broker, &ca_file);
    let mut worker = scram.start(&spec).unwrap();

    // Input at a live rate for the whole rotation schedule (about 100 s).
    let producer = Command::new(binary("sluice").unwrap())
        .args(["produce", "--bootstrap", &broker.bootstrap(), "--job"])
        .arg(&job_file)
        .args([
            "--partitions",
            "2",
            "--cards",
            "400",
            "--authorizations",
            "50000",
        ])
        .args(["--rate", "500", "--seed", "91"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(8));
    assert_undisturbed(&mut worker, &broker, "before rotating");

    // Every session re-authenticates within SCRAM_REAUTH; the watcher reads the files every 2 s.
    let settle = SCRAM_REAUTH + Duration::from_secs(6);
    let mut old_user = SASL_USER.to_string();
    for round in 1..=2 {
        let user = format!("sluice-rotated-{round}");
        let password = format!("rotated-{round}-{}", unique_name("pw"));
        broker.set_scram_user(&user, &password).unwrap();
        std::thread::sleep(Duration::from_secs(2));
        volume.write(&user, &password);
        wait_picked_up(&worker, round);
        std::thread::sleep(settle);
        broker.delete_scram_user(&old_user).unwrap();
        // A client still on the deleted user would now fail its next re-authentication.
        std::thread::sleep(settle);
        assert_undisturbed(&mut worker, &broker, &format!("rotation {round}"));
        old_user = user;
    }

    // A CA rotation begins: the worker's trust file becomes a bundle with the next CA. The worker replaces
    // its clients (they read TLS files only when created); then the broker switches, while running, to a
    // new certificate, which the new connections verify (hostname verification stays on).
    let tls = broker.tls();
    let mut bundle = std::fs::read_to_string(&tls.ca_cert).unwrap();
    bundle.push_str(&std::fs::read_to_string(&tls.untrusted_ca_cert).unwrap());
    let staged = dir.join("kafka-ca.crt.new");
    std::fs::write(&staged, bundle).unwrap();
    std::fs::rename(&staged, &ca_file).unwrap();
    wait_picked_up(&worker, 3);
    let before = presented_certificate(&broker.sasl_ssl_bootstrap(), &ca_file);
    broker.rotate_certificate().unwrap();
    assert_eq!(before, pem_body(&tls.broker_cert));
    // The broker applies the update a moment after the tool returns.
    let next = pem_body(&tls.broker_next_cert);
    let deadline = Instant::now() + Duration::from_secs(20);
    while presented_certificate(&broker.sasl_ssl_bootstrap(), &ca_file) != next {
        assert!(Instant::now() < deadline, "the broker kept its certificate");
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(settle);
    assert_undisturbed(&mut worker, &broker, "the certificate rotation");

    let produced = producer.wait_with_output().unwrap();
    assert!(
        produced.status.success(),
        "{}",
        String::from_utf8_lossy(&produced.stderr)
    );
    let mut workers = vec![worker];
    h.wait_caught_up(&mut workers, Duration::from_secs(180))
        .unwrap();
    assert_undisturbed(&mut workers[0], &broker, "after the input");
    let log = std::fs::read_to_string(workers[0].process.log_path()).unwrap();
    assert_eq!(count_in(workers[0].process.log_path(), PICKED_UP), 3);
    assert_eq!(count_in(workers[0].process.log_path(), REPLACED), 3);
    assert!(
        !log.contains(SASL_PASSWORD) && !log.contains("rotated-1-") && !log.contains("rotated-2-")
    );
    h.stop_all(workers).unwrap();

    let report = h.verify().unwrap();
    assert!(report.input_records > 50_000, "{report:?}");
    assert_eq!(report.unprocessed_records, 0, "{report:?}");
    assert!(report.ok(), "{report:#?}");
    common::report::record(
        "Kafka credentials rotated under load (no restart)",
        "2 SCRAM user rotations (old user deleted), a CA bundle change, the broker's certificate rotated; 500 records/s live; 0 failed authentications",
        0,
        Some(&report),
        started,
    );

    // The first user is gone from the broker: a worker that still has its credentials is refused.
    let stale = SecretVolume::new(&dir.join("stale-sasl"), SASL_USER, SASL_PASSWORD);
    let mut refused = scram
        .start(&WorkerSpec {
            slot: "stale".into(),
            identity: "stale".into(),
            env: stale.env(),
            ..spec
        })
        .unwrap();
    let status = refused.process.wait_exit(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| !s.success()),
        "a worker with the deleted user's credentials must be refused ({status:?}): {}",
        refused.process.log_tail(40)
    );
    assert!(
        count_in(
            refused.process.log_path(),
            "rejected this worker's credentials"
        ) > 0,
        "{}",
        refused.process.log_tail(40)
    );
    refused.process.kill();
    // The broker logs refusals the way the checks above look for them.
    assert!(count_in(&broker.log_path(), FAILED_AUTH) > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
