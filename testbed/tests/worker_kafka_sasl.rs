#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Kafka SASL credentials as the operator hands them to a worker pod: a mounted Secret whose files are named by
//! `SLUICE_KAFKA_SASL_USERNAME_FILE` / `SLUICE_KAFKA_SASL_PASSWORD_FILE`. Against a real broker's
//! SASL_PLAINTEXT/PLAIN listener: with the right password the worker processes the job exactly once; with a
//! wrong one it commits nothing and says that authentication failed — and the password never reaches its log.

use std::time::Duration;

use sluice_generator::GeneratorConfig;
use sluice_testbed::KafkaBroker;
use sluice_testbed::cache::run_root;
use sluice_testbed::job_harness::{JobHarness, WorkerSpec};
use sluice_testbed::services::kafka::{SASL_PASSWORD, SASL_USER};
use sluice_testbed::unique_name;

const PARTITIONS: i32 = 2;

fn sasl_worker(h: &JobHarness, identity: &str, password_file: &std::path::Path) -> WorkerSpec {
    let user_file = h.dir.join("sasl-username");
    std::fs::write(&user_file, format!("{SASL_USER}\n")).unwrap();
    WorkerSpec {
        slot: identity.into(),
        identity: identity.into(),
        partitions: (0..PARTITIONS).collect(),
        env: vec![
            (
                "SLUICE_KAFKA_SASL_USERNAME_FILE".into(),
                user_file.display().to_string(),
            ),
            (
                "SLUICE_KAFKA_SASL_PASSWORD_FILE".into(),
                password_file.display().to_string(),
            ),
        ],
        ..WorkerSpec::default()
    }
}

#[test]
fn a_worker_authenticates_with_sasl_credentials_from_files() {
    // A private broker: the SASL listener's address is not announced by the shared test bed.
    let broker = KafkaBroker::start(&run_root().join(unique_name("kafka-sasl"))).unwrap();
    let dir = run_root().join(unique_name("sasl"));
    let yaml = "commitInterval: 100ms\nstate:\n  blockCacheMib: 16\n  writeBufferMib: 16\n";
    // Topics, load, lag and the oracle use the PLAINTEXT listener; the workers only get the SASL one.
    let mut h = JobHarness::new(&broker.bootstrap(), &dir, PARTITIONS, yaml).unwrap();
    let kafka = h.job.kafka.as_mut().unwrap();
    kafka.bootstrap_servers = broker.sasl_bootstrap();
    kafka
        .properties
        .insert("security.protocol".into(), "SASL_PLAINTEXT".into());
    kafka
        .properties
        .insert("sasl.mechanism".into(), "PLAIN".into());
    let generator = GeneratorConfig {
        seed: 77,
        cards: 300,
        partitions: PARTITIONS as u32,
        authorizations: 1_500,
        malformed_per_mille: 5,
        ..GeneratorConfig::default()
    };
    let produced =
        sluice_cli::produce::produce(&broker.bootstrap(), &h.job.topics, generator, 0, |_| {})
            .unwrap()
            .records;

    // A wrong password: the worker stops at once with an error that names the credentials (waiting would not
    // help), commits nothing, and never shows the password.
    let wrong = dir.join("sasl-password-wrong");
    let wrong_password = "not-the-password-4711";
    std::fs::write(&wrong, wrong_password).unwrap();
    let mut bad = h.start(&sasl_worker(&h, "p1-bad", &wrong)).unwrap();
    let status = bad.process.wait_exit(Duration::from_secs(60));
    let log = std::fs::read_to_string(bad.process.log_path()).unwrap_or_default();
    assert!(
        status.is_some_and(|s| !s.success()),
        "a worker with rejected credentials must exit non-zero within 60 s ({status:?}): {}",
        bad.process.log_tail(40)
    );
    assert!(
        log.contains("rejected this worker's credentials"),
        "the exit must say the credentials were rejected: {}",
        bad.process.log_tail(40)
    );
    assert!(
        !log.contains(wrong_password),
        "the password leaked into the log"
    );
    assert_eq!(
        h.lag().unwrap(),
        produced as i64,
        "nothing may be committed"
    );
    bad.process.kill();

    // The right password: the whole input, exactly once. Logged at `trace`, where the dependencies (rdkafka,
    // hyper, the AWS SDK) say everything they say: neither the password nor the control token shows.
    let right = dir.join("sasl-password");
    std::fs::write(&right, format!("{SASL_PASSWORD}\n")).unwrap();
    let mut spec = sasl_worker(&h, "p1-w0", &right);
    spec.env.push(("RUST_LOG".into(), "trace".into()));
    let mut workers = vec![h.start(&spec).unwrap()];
    h.wait_caught_up(&mut workers, Duration::from_secs(180))
        .unwrap();
    let log = std::fs::read_to_string(workers[0].process.log_path()).unwrap();
    assert!(
        log.contains("TRACE"),
        "the worker did not log at trace level"
    );
    assert!(
        !log.contains(SASL_PASSWORD),
        "the password leaked into the trace log"
    );
    assert!(
        !log.contains(h.token.as_str()),
        "the control token leaked into the trace log"
    );
    h.stop_all(workers).unwrap();
    let report = h.verify().unwrap();
    assert_eq!(report.input_records, produced);
    assert_eq!(report.unprocessed_records, 0);
    assert!(report.ok(), "{report:#?}");
}
