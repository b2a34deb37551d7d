#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A savepoint upgrade to a new scoring model under load, driven only by the operator: the job runs model
//! `fraud-v1` from a ConfigMap while records arrive at a fixed rate; the ConfigMap is changed to `fraud-v2`
//! (other thresholds); the operator stops the workers with a savepoint and restarts them on the new model.
//! `verify` with both models then finds every decision exactly once, equal to the oracle under the model it
//! names, and each partition switching from v1 to v2 at exactly one offset.

mod common;

use std::time::Duration;

use common::model_upgrade::{assert_each_partition_switched_once, model_v2_yaml};
use common::{OperatorEnv, create, steady};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use sluice_core::model::FRAUD_V1_YAML;
use sluice_crds::SavepointTrigger;
use sluice_generator::GeneratorConfig;

const PARTITIONS: i32 = 4;
const JOB_YAML: &str = "commitInterval: 100ms\ncommitMaxRecords: 500\nstate:\n  checkpointInterval: 2s\n  retainedCheckpoints: 2\n  blockCacheMib: 16\n  writeBufferMib: 16\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_model_upgrade_under_load_switches_each_partition_at_one_offset() {
    let started = std::time::Instant::now();
    let mut env = OperatorEnv::start("opmodel", PARTITIONS, JOB_YAML).await;
    env.run_operator();
    let v2 = model_v2_yaml();
    assert_ne!(v2, FRAUD_V1_YAML);
    create::<ConfigMap>(
        &env.client,
        &env.ns,
        serde_json::json!({
            "metadata": {"name": "model", "labels": {"sluice.dev/model": "fraud"}},
            "data": {"model.yaml": FRAUD_V1_YAML},
        }),
    )
    .await;
    let spec = serde_json::json!({"spec": {
        "model": {"configMap": {"name": "model", "key": "model.yaml"}},
    }});
    env.jobs()
        .create(&PostParams::default(), &env.stream_job(2, spec))
        .await
        .unwrap();

    // Load at a fixed rate for the whole test: the upgrade happens while records keep arriving.
    let producer = {
        let (bootstrap, topics) = (env.h.bootstrap.clone(), env.h.job.topics.clone());
        std::thread::spawn(move || {
            let g = GeneratorConfig {
                seed: 4242,
                cards: 800,
                partitions: PARTITIONS as u32,
                authorizations: 12_000,
                events_per_second: 300,
                malformed_per_mille: 3,
                ..GeneratorConfig::default()
            };
            sluice_cli::produce::produce(&bootstrap, &topics, g, 200, |_| {})
                .unwrap()
                .records
        })
    };
    let first = env
        .wait_for(
            "2 ready workers on fraud-v1",
            Duration::from_secs(180),
            async |j| {
                let s = j.status.as_ref()?;
                steady(j, 2).then(|| s.deployed_hash.clone())?
            },
        )
        .await;
    // Let some v1 decisions be committed on every partition before the upgrade.
    tokio::time::sleep(Duration::from_secs(8)).await;

    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.ns);
    let patch = serde_json::json!({"data": {"model.yaml": v2}});
    cms.patch("model", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let status = env
        .wait_for(
            "the model upgrade to roll out",
            Duration::from_secs(300),
            async |j| {
                let s = j.status.as_ref()?;
                (steady(j, 2) && s.deployed_hash.as_deref() != Some(first.as_str()))
                    .then(|| s.clone())
            },
        )
        .await;
    let sp = status.savepoints.last().expect("the upgrade savepoint");
    assert_eq!(sp.trigger, SavepointTrigger::Upgrade);
    assert_eq!(status.restored_from.as_deref(), Some(sp.location.as_str()));

    let produced = tokio::task::block_in_place(|| producer.join().unwrap());
    env.wait_consumed("all input consumed", Duration::from_secs(300))
        .await;
    let report = tokio::task::block_in_place(|| {
        let h = &env.h;
        let models = [FRAUD_V1_YAML.to_string(), v2.clone()];
        sluice_cli::verify::verify_models(&h.bootstrap, &h.job, &models).unwrap()
    });
    eprintln!("model switches: {:#?}", report.model_switches);
    assert_eq!(report.input_records, produced);
    assert_eq!(report.unprocessed_records, 0);
    assert!(
        report.ok(),
        "exactly-once violated across the model upgrade: {report:#?}"
    );
    assert_each_partition_switched_once(&report, PARTITIONS as usize);
    common::report::record(
        "2. savepoint upgrade to a new model under load",
        format!("fraud-v1 → fraud-v2: {}", report.model_switches.join("; ")),
        0,
        Some(&report),
        started,
    );
}
