//! Kafka over TLS, against a real broker's secured listeners: SASL_SSL with SCRAM-SHA-512, and SSL that
//! requires a client certificate (mutual TLS), both with certificates the test bed generates
//! (`testbed/src/services/kafka_tls.rs`). The workers are configured only by the typed
//! `job.kafka.security` plus the files as the operator mounts them (`SLUICE_KAFKA_TLS_DIR`, SASL files). The `sluice` CLI produces the input through the SCRAM listener and
//! verifies the output through the mutual-TLS one (a Kafka-style `--command-config` file each); one job runs
//! with one worker on each listener. Workers that trust the wrong CA, present no certificate or an impostor's,
//! or a wrong SCRAM password exit at once with an error that names what to fix, and commit nothing. No
//! password or private key reaches a log, at trace level either.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_crds::kafka_security::{KafkaSecurity, SaslMechanism, SecurityProtocol};
use sluice_testbed::KafkaBroker;
use sluice_testbed::binaries::sluice_cli;
use sluice_testbed::cache::run_root;
use sluice_testbed::job_harness::{JobHarness, WorkerSpec};
use sluice_testbed::services::kafka::{SASL_PASSWORD, SASL_USER};
use sluice_testbed::services::kafka_tls::KafkaTlsFiles;
use sluice_testbed::unique_name;

const PARTITIONS: i32 = 2;

/// How one worker reaches the broker: an address, the job's typed security, the files it reads (a TLS
/// directory laid out as the operator mounts `spec.kafkaAuth.tlsSecret`, SASL credential files), and the
/// same settings as client properties for the CLI's `--command-config`.
struct Access {
    bootstrap: String,
    security: KafkaSecurity,
    cli_properties: Vec<(&'static str, String)>,
    env: Vec<(String, String)>,
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A directory holding `ca` as `ca.crt` and the client certificate, if any, as `tls.crt` and `tls.key`.
fn tls_dir(dir: &Path, ca: &Path, client: Option<(&Path, &Path)>) -> PathBuf {
    let d = dir.join(unique_name("kafka-tls"));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(ca, d.join("ca.crt")).unwrap();
    if let Some((cert, key)) = client {
        std::fs::copy(cert, d.join("tls.crt")).unwrap();
        std::fs::copy(key, d.join("tls.key")).unwrap();
    }
    d
}

/// SCRAM-SHA-512 over TLS, trusting `ca`, with the password in a file as the operator mounts it.
fn scram(broker: &KafkaBroker, dir: &Path, ca: &Path, password: &str) -> Access {
    let user = dir.join("scram-username");
    std::fs::write(&user, SASL_USER).unwrap();
    let pass = dir.join(format!("scram-password-{}", unique_name("p")));
    std::fs::write(&pass, format!("{password}\n")).unwrap();
    Access {
        bootstrap: broker.sasl_ssl_bootstrap(),
        security: KafkaSecurity {
            protocol: SecurityProtocol::SaslSsl,
            sasl_mechanism: Some(SaslMechanism::ScramSha512),
        },
        cli_properties: vec![
            ("security.protocol", "SASL_SSL".into()),
            ("sasl.mechanism", "SCRAM-SHA-512".into()),
            ("ssl.ca.location", path(ca)),
        ],
        env: vec![
            ("SLUICE_KAFKA_SASL_USERNAME_FILE".into(), path(&user)),
            ("SLUICE_KAFKA_SASL_PASSWORD_FILE".into(), path(&pass)),
            ("SLUICE_KAFKA_TLS_DIR".into(), path(&tls_dir(dir, ca, None))),
        ],
    }
}

/// Mutual TLS with `cert`/`key` (None: no client certificate).
fn mtls(broker: &KafkaBroker, dir: &Path, ca: &Path, client: Option<(&Path, &Path)>) -> Access {
    let mut cli_properties = vec![
        ("security.protocol", "SSL".into()),
        ("ssl.ca.location", path(ca)),
    ];
    if let Some((cert, key)) = client {
        cli_properties.push(("ssl.certificate.location", path(cert)));
        cli_properties.push(("ssl.key.location", path(key)));
    }
    Access {
        bootstrap: broker.mtls_bootstrap(),
        security: KafkaSecurity {
            protocol: SecurityProtocol::Ssl,
            sasl_mechanism: None,
        },
        cli_properties,
        env: vec![(
            "SLUICE_KAFKA_TLS_DIR".into(),
            path(&tls_dir(dir, ca, client)),
        )],
    }
}

/// A copy of the job that reaches the broker through `access` (`kafka.security`, no client properties),
/// and the spec of a worker on `partitions`.
fn secured(
    h: &JobHarness,
    access: &Access,
    identity: &str,
    partitions: Vec<i32>,
) -> (JobHarness, WorkerSpec) {
    let mut h = h.clone();
    let kafka = h.job.kafka.as_mut().unwrap();
    kafka.bootstrap_servers = access.bootstrap.clone();
    kafka.security = Some(access.security);
    let spec = WorkerSpec {
        slot: identity.into(),
        identity: identity.into(),
        partitions,
        env: access.env.clone(),
        ..WorkerSpec::default()
    };
    (h, spec)
}

/// A `--command-config` file for the CLI: `access`'s properties plus the SCRAM credentials, if any.
fn command_config(dir: &Path, name: &str, access: &Access, with_password: bool) -> PathBuf {
    let mut text: String = access
        .cli_properties
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    if with_password {
        text.push_str(&format!(
            "sasl.username={SASL_USER}\nsasl.password={SASL_PASSWORD}\n"
        ));
    }
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Starts a worker that must be refused: it exits non-zero within 60 s, its log says `expected`, it commits
/// nothing and never shows `secret`.
fn refused(h: &JobHarness, access: &Access, identity: &str, expected: &str, produced: u64) {
    let (h2, spec) = secured(h, access, identity, (0..PARTITIONS).collect());
    let mut w = h2.start(&spec).unwrap();
    let status = w.process.wait_exit(Duration::from_secs(60));
    let log = std::fs::read_to_string(w.process.log_path()).unwrap_or_default();
    assert!(
        status.is_some_and(|s| !s.success()),
        "{identity}: a refused worker must exit non-zero within 60 s ({status:?}): {}",
        w.process.log_tail(40)
    );
    assert!(
        log.contains(expected),
        "{identity}: expected {expected:?}: {}",
        w.process.log_tail(40)
    );
    assert!(
        !log.contains(SASL_PASSWORD),
        "{identity}: the password leaked into the log"
    );
    assert_eq!(
        h.lag().unwrap(),
        produced as i64,
        "{identity}: nothing may be committed"
    );
    w.process.kill();
}

#[test]
fn workers_and_the_cli_run_over_sasl_ssl_and_mutual_tls() {
    // A private broker: the shared test bed announces only its PLAINTEXT listener.
    let broker = KafkaBroker::start(&run_root().join(unique_name("kafka-tls"))).unwrap();
    let tls: KafkaTlsFiles = broker.tls();
    let dir = run_root().join(unique_name("tls"));
    let yaml = "commitInterval: 100ms\nstate:\n  blockCacheMib: 16\n  writeBufferMib: 16\n";
    // Topics are created and the lag read over PLAINTEXT; every job client uses a secured listener.
    let h = JobHarness::new(&broker.bootstrap(), &dir, PARTITIONS, yaml).unwrap();
    let job_file = h.write_config(&WorkerSpec::default()).unwrap();

    // The input, produced by the CLI over SCRAM-SHA-512 on TLS.
    let scram_ok = scram(&broker, &dir, &tls.ca_cert, SASL_PASSWORD);
    let produce_cfg = command_config(&dir, "produce.properties", &scram_ok, true);
    let out = sluice_cli(&[
        "produce",
        "--bootstrap",
        &scram_ok.bootstrap,
        "--command-config",
        &path(&produce_cfg),
        "--job",
        &path(&job_file),
        "--partitions",
        "2",
        "--cards",
        "300",
        "--authorizations",
        "1500",
        "--seed",
        "78",
    ])
    .unwrap();
    let produced: u64 = out
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected produce output: {out}"));
    assert!(produced > 1_500, "{out}");
    assert_eq!(h.lag().unwrap(), produced as i64);

    // Refusals, each naming what to fix.
    let untrusted_ca = scram(&broker, &dir, &tls.untrusted_ca_cert, SASL_PASSWORD);
    refused(
        &h,
        &untrusted_ca,
        "untrusted-ca",
        "TLS handshake with the Kafka broker failed",
        produced,
    );
    let no_cert = mtls(&broker, &dir, &tls.ca_cert, None);
    refused(
        &h,
        &no_cert,
        "no-client-cert",
        "TLS handshake with the Kafka broker failed",
        produced,
    );
    let impostor = mtls(
        &broker,
        &dir,
        &tls.ca_cert,
        Some((&tls.untrusted_client_cert, &tls.untrusted_client_key)),
    );
    refused(
        &h,
        &impostor,
        "impostor-cert",
        "TLS handshake with the Kafka broker failed",
        produced,
    );
    let wrong_password = scram(&broker, &dir, &tls.ca_cert, "not-the-password-4711");
    refused(
        &h,
        &wrong_password,
        "wrong-scram",
        "rejected this worker's credentials",
        produced,
    );

    // One job, a worker on each listener, both logging at trace (every dependency's output included).
    let (h_scram, mut w0) = secured(&h, &scram_ok, "scram-w0", vec![0]);
    let mutual = mtls(
        &broker,
        &dir,
        &tls.ca_cert,
        Some((&tls.client_cert, &tls.client_key)),
    );
    let (h_mtls, mut w1) = secured(&h, &mutual, "mtls-w1", vec![1]);
    for spec in [&mut w0, &mut w1] {
        spec.env.push(("RUST_LOG".into(), "trace".into()));
    }
    // The client key's base64 body: no line of it may reach a log.
    let key_lines: Vec<String> = std::fs::read_to_string(&tls.client_key)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .map(str::to_string)
        .collect();
    assert!(!key_lines.is_empty());
    let mut workers = vec![h_scram.start(&w0).unwrap(), h_mtls.start(&w1).unwrap()];
    h.wait_caught_up(&mut workers, Duration::from_secs(180))
        .unwrap();
    for w in &workers {
        let log = std::fs::read_to_string(w.process.log_path()).unwrap();
        assert!(
            log.lines().count() > 1_000,
            "a trace log is long: {}",
            w.process.log_tail(20)
        );
        assert!(
            !log.contains(SASL_PASSWORD),
            "the password leaked into the log"
        );
        assert!(
            key_lines.iter().all(|l| !log.contains(l.as_str())),
            "the client's private key leaked into the log"
        );
    }
    h.stop_all(workers).unwrap();

    // The output, verified by the CLI over mutual TLS.
    let verify_cfg = command_config(&dir, "verify.properties", &mutual, false);
    let out = sluice_cli(&[
        "verify",
        "--json",
        "--bootstrap",
        &mutual.bootstrap,
        "--command-config",
        &path(&verify_cfg),
        "--job",
        &path(&job_file),
    ])
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["input_records"], produced, "{report}");
    assert_eq!(report["unprocessed_records"], 0, "{report}");
    assert_eq!(report["duplicate_decisions"], 0, "{report}");
    assert_eq!(report["missing_decisions"], 0, "{report}");
    assert_eq!(report["mismatched_decisions"], 0, "{report}");

    // The CLI refuses a malformed --command-config, naming the line, before connecting.
    let bad_cfg = dir.join("bad.properties");
    std::fs::write(
        &bad_cfg,
        "security.protocol=SSL\nbootstrap.servers=elsewhere:9092\n",
    )
    .unwrap();
    let err = sluice_cli(&[
        "verify",
        "--bootstrap",
        &mutual.bootstrap,
        "--command-config",
        &path(&bad_cfg),
        "--job",
        &path(&job_file),
    ])
    .unwrap_err();
    assert!(
        err.contains("line 2") && err.contains("--bootstrap"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
