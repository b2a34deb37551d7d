#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `sluice verify` fails loudly: a missing topic, an empty input and unprocessed input each give a
//! non-zero exit and a line that says why; only after a worker has processed everything does it pass,
//! and a forged alert or a decision written twice makes it fail again.
//! Against the shared real Kafka broker, through the CLI an auditor runs.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use rdkafka::Message;
use sluice_cli::verify::read::read_topic;
use sluice_crds::JobConfig;
use sluice_generator::GeneratorConfig;
use sluice_testbed::binaries::binary;
use sluice_testbed::job_harness::{JobHarness, WorkerSpec};
use sluice_testbed::{TestBed, unique_name};

const PARTITIONS: i32 = 2;

fn write_job(dir: &Path, name: &str, job: &JobConfig) -> std::path::PathBuf {
    let path = dir.join(name);
    let text = serde_norway::to_string(&serde_json::json!({ "job": job })).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn sluice_verify(bootstrap: &str, job_file: &Path) -> (Output, serde_json::Value) {
    let out = Command::new(binary("sluice").unwrap())
        .args(["verify", "--json", "--bootstrap", bootstrap, "--job"])
        .arg(job_file)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, report)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn verify_fails_on_missing_topics_empty_and_unprocessed_input() {
    let bed = TestBed::with_kafka().unwrap();
    let bootstrap = bed.kafka_bootstrap().to_string();
    let dir = sluice_testbed::cache::run_root().join(unique_name("verify-cli"));
    let yaml = "commitInterval: 100ms\nstate:\n  blockCacheMib: 16\n  writeBufferMib: 16\n";
    let h = JobHarness::new(&bootstrap, &dir, PARTITIONS, yaml).unwrap();

    // A topic that does not exist (a typo in the job): an error naming it, not an empty "pass".
    let mut typo = h.job.clone();
    typo.topics.authorizations = format!("{}-typo", typo.topics.authorizations);
    let (out, _) = sluice_verify(&bootstrap, &write_job(&dir, "typo.yaml", &typo));
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "topic {} (authorizations) does not exist",
            typo.topics.authorizations
        )),
        "{}",
        stderr(&out)
    );

    // Topics exist but hold nothing: nothing was verified.
    let job_file = write_job(&dir, "job.yaml", &h.job);
    let (out, report) = sluice_verify(&bootstrap, &job_file);
    assert!(!out.status.success(), "{report:#}");
    assert!(
        stderr(&out).contains("nothing was verified"),
        "{}",
        stderr(&out)
    );
    assert_eq!(report["input_records"], 0, "{report:#}");

    // Input produced, no worker yet: every record is unprocessed.
    let generator = GeneratorConfig {
        seed: 5,
        cards: 50,
        partitions: PARTITIONS as u32,
        authorizations: 300,
        malformed_per_mille: 10,
        ..GeneratorConfig::default()
    };
    let produced = sluice_cli::produce::produce(&bootstrap, &h.job.topics, generator, 0, |_| {})
        .unwrap()
        .records;
    let (out, report) = sluice_verify(&bootstrap, &job_file);
    assert!(!out.status.success(), "{report:#}");
    assert_eq!(report["unprocessed_records"], produced, "{report:#}");
    assert!(
        stderr(&out).contains(&format!("{produced} input records not yet processed")),
        "{}",
        stderr(&out)
    );

    // After a worker has processed everything, the same command passes.
    let spec = WorkerSpec {
        slot: "all".into(),
        identity: "all".into(),
        partitions: (0..PARTITIONS).collect(),
        ..WorkerSpec::default()
    };
    let mut workers = vec![h.start(&spec).unwrap()];
    h.wait_caught_up(&mut workers, Duration::from_secs(120))
        .unwrap();
    h.stop_all(workers).unwrap();
    let (out, report) = sluice_verify(&bootstrap, &job_file);
    assert!(out.status.success(), "{report:#} {}", stderr(&out));
    assert_eq!(report["processed_records"], produced, "{report:#}");
    assert_eq!(report["unprocessed_records"], 0, "{report:#}");
    // Alerts are checked too: the generator's fraud patterns raise some, each exactly once.
    assert!(
        report["expected_alerts"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    assert_eq!(
        report["actual_alerts"], report["expected_alerts"],
        "{report:#}"
    );
    assert_eq!(report["mismatched_alerts"], 0, "{report:#}");

    // One forged alert appended by someone else: the same command now fails and says so.
    let forged = br#"{"txn_id":"forged","decision":"DECLINE"}"#;
    produce_plain(&bootstrap, &h.job.topics.alerts, forged);
    let (out, report) = sluice_verify(&bootstrap, &job_file);
    assert!(!out.status.success(), "{report:#}");
    assert_eq!(report["mismatched_alerts"], 1, "{report:#}");
    assert!(
        stderr(&out).contains("1 alerts that differ"),
        "{}",
        stderr(&out)
    );

    // A committed decision written a second time: a duplicate, named by its txn_id.
    let decisions = read_topic(
        &bootstrap.as_str().into(),
        &h.job.topics.decisions,
        1,
        Duration::from_secs(60),
    )
    .unwrap();
    let first = decisions[0][0].payload().unwrap().to_vec();
    let txn_id = serde_json::from_slice::<serde_json::Value>(&first).unwrap()["txn_id"].clone();
    produce_plain(&bootstrap, &h.job.topics.decisions, &first);
    let (out, report) = sluice_verify(&bootstrap, &job_file);
    assert!(!out.status.success(), "{report:#}");
    assert_eq!(report["duplicate_decisions"], 1, "{report:#}");
    assert!(
        report["examples"]
            .to_string()
            .contains(txn_id.as_str().unwrap()),
        "{report:#}"
    );
}

/// Writes one record outside any transaction (visible to read_committed readers at once).
fn produce_plain(bootstrap: &str, topic: &str, payload: &[u8]) {
    use rdkafka::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    producer
        .send(BaseRecord::<(), [u8]>::to(topic).payload(payload))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
}
