#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A StreamJob on a secured Kafka listener through the operator, end to end: `spec.job.kafka.security`
//! (SASL_SSL, SCRAM-SHA-512) names the protocol, `spec.kafkaAuth` names a Secret with the broker's CA and one
//! with the SCRAM user; the operator mounts both and the workers find the files themselves (no client
//! property in the StreamJob). The job's only address is the broker's SASL_SSL listener, so every record it
//! processes went through TLS and SCRAM. The test produces and verifies over the PLAINTEXT listener, with
//! read_committed and the independent oracle.
//!
//! Then the secret-leak check: the SCRAM password must appear nowhere the cluster or the workers write — the
//! StreamJob (spec and status), the job ConfigMap, the namespace's Events, and every worker log, written at
//! `trace` level.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{OperatorEnv, create, steady};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::api::{Api, ListParams, PostParams};
use sluice_crds::job_config::KafkaConfig;
use sluice_crds::kafka_security::{KafkaSecurity, SaslMechanism, SecurityProtocol};
use sluice_generator::GeneratorConfig;
use sluice_testbed::TestBed;
use sluice_testbed::services::kafka::{SASL_PASSWORD, SASL_USER};

const PARTITIONS: i32 = 2;
const JOB_YAML: &str = "commitInterval: 100ms\nstate:\n  checkpointInterval: 2s\n  blockCacheMib: 16\n  writeBufferMib: 16\n";

/// Every file under `dir` whose name ends in `.log`, with its text.
fn logs_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(logs_under(&path));
        } else if path.extension().is_some_and(|e| e == "log") {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            out.push((path.display().to_string(), text));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_on_sasl_ssl_from_typed_security_and_mounted_secrets_leaks_no_secret() {
    let started = std::time::Instant::now();
    let mut bed = tokio::task::block_in_place(TestBed::private_kafka_and_s3).unwrap();
    let broker = bed.kafka_broker().unwrap();
    let secured = broker.sasl_ssl_bootstrap();
    let ca = std::fs::read_to_string(&broker.tls().ca_cert).unwrap();
    let mut env = OperatorEnv::start_on(bed, "opkafkasec", PARTITIONS, JOB_YAML).await;
    env.run_operator();
    create::<Secret>(
        &env.client,
        &env.ns,
        serde_json::json!({"metadata": {"name": "kafka-ca"}, "stringData": {"ca.crt": ca}}),
    )
    .await;
    create::<Secret>(
        &env.client,
        &env.ns,
        serde_json::json!({"metadata": {"name": "kafka-user"},
            "stringData": {"username": SASL_USER, "password": SASL_PASSWORD}}),
    )
    .await;
    let mut job = env.h.job.clone();
    job.kafka = Some(KafkaConfig {
        bootstrap_servers: secured,
        security: Some(KafkaSecurity {
            protocol: SecurityProtocol::SaslSsl,
            sasl_mechanism: Some(SaslMechanism::ScramSha512),
        }),
        properties: Default::default(),
    });
    let spec = serde_json::json!({"spec": {
        "job": job,
        "kafkaAuth": {"tlsSecret": {"name": "kafka-ca"}, "saslSecret": {"name": "kafka-user"}},
        "logging": {"level": "trace"},
    }});
    env.jobs()
        .create(&PostParams::default(), &env.stream_job(2, spec))
        .await
        .unwrap();

    let produced = {
        let (bootstrap, topics) = (env.h.bootstrap.clone(), env.h.job.topics.clone());
        let g = GeneratorConfig {
            seed: 2212,
            cards: 300,
            partitions: PARTITIONS as u32,
            authorizations: 3_000,
            malformed_per_mille: 3,
            ..GeneratorConfig::default()
        };
        tokio::task::block_in_place(|| {
            sluice_cli::produce::produce(&bootstrap, &topics, g, 1_000, |_| {})
                .unwrap()
                .records
        })
    };
    env.wait_for(
        "2 ready workers on SASL_SSL",
        Duration::from_secs(180),
        async |j| steady(j, 2).then_some(()),
    )
    .await;
    env.wait_consumed("all input consumed over SASL_SSL", Duration::from_secs(240))
        .await;
    let report = tokio::task::block_in_place(|| env.h.verify()).unwrap();
    assert_eq!(report.input_records, produced);
    assert_eq!(report.unprocessed_records, 0);
    assert!(report.ok(), "exactly-once violated: {report:#?}");

    // Where the password must not be.
    let mut places: Vec<(String, String)> = Vec::new();
    let stream_job = env.jobs().get(common::JOB_NAME).await.unwrap();
    places.push((
        "the StreamJob".into(),
        serde_json::to_string(&stream_job).unwrap(),
    ));
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.ns);
    for cm in cms.list(&ListParams::default()).await.unwrap() {
        places.push((
            format!("ConfigMap {:?}", cm.metadata.name),
            serde_json::to_string(&cm).unwrap(),
        ));
    }
    let events: Api<Event> = Api::namespaced(env.client.clone(), &env.ns);
    let events = events.list(&ListParams::default()).await.unwrap();
    assert!(!events.items.is_empty(), "the operator records Events");
    places.push(("Events".into(), serde_json::to_string(&events).unwrap()));
    let logs = logs_under(&env.agent_dir);
    let lines: usize = logs.iter().map(|(_, t)| t.lines().count()).sum();
    assert!(
        logs.len() >= 2 && lines > 1_000,
        "two workers' trace logs: {} files, {lines} lines",
        logs.len()
    );
    places.extend(logs);
    for (place, text) in &places {
        assert!(
            !text.contains(SASL_PASSWORD),
            "the SCRAM password is in {place}"
        );
    }
    common::report::record(
        "7. a job on SASL_SSL through the operator",
        format!(
            "kafka.security SASL_SSL/SCRAM-SHA-512 with the CA and user from Secrets; password in none of {} places (StreamJob, ConfigMaps, Events, trace logs)",
            places.len()
        ),
        0,
        Some(&report),
        started,
    );
}
