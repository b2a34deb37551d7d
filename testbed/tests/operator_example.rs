#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Scenario 1 of the end-to-end issue, the way a user does it: the committed `examples/fraud-streamjob.yaml`
//! goes through `kubectl apply`, load comes from the `sluice produce` binary at a fixed rate, the job reaches
//! RUNNING/STABLE, and `sluice verify` (the binary) confirms every decision exactly once.
//!
//! The example is a production manifest. Only what cannot exist on this machine is replaced, field by field
//! ([`sluice_testbed::example::localize`]); everything else is the example's own.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{OperatorEnv, create, steady};
use k8s_openapi::api::core::v1::ConfigMap;
use sluice_core::model::FRAUD_V1_YAML;
use sluice_crds::LifecycleState;
use sluice_testbed::binaries::binary;
use sluice_testbed::example::start_example_load;
use sluice_testbed::kafka_admin::create_job_topics;

const EXAMPLE: &str = sluice_testbed::example::EXAMPLE_YAML;

/// The example with this machine's values in place of the production ones (see [`sluice_testbed::example`]).
fn localize(env: &OperatorEnv, name: &str) -> serde_norway::Value {
    sluice_testbed::example::localize(&sluice_testbed::example::Localization {
        name,
        namespace: &env.ns,
        image: "sluice-worker:e2e",
        job: &env.h.job,
        bootstrap: &env.h.bootstrap,
        bucket: &env.bucket,
        s3_endpoint: &env.endpoint,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_example_manifest_runs_with_kubectl_apply_and_sluice_produce() {
    let started = std::time::Instant::now();
    let example: serde_norway::Value = serde_norway::from_str(EXAMPLE).unwrap();
    let partitions = example["spec"]["partitions"].as_i64().unwrap() as i32;
    let parallelism = example["spec"]["parallelism"].as_i64().unwrap() as i32;
    let mut env = OperatorEnv::start("opexample", partitions, "").await;
    env.run_operator();
    create::<ConfigMap>(
        &env.client,
        &env.ns,
        serde_json::json!({"metadata": {"name": "fraud-model"}, "data": {"model.yaml": FRAUD_V1_YAML}}),
    )
    .await;
    let name = example["metadata"]["name"].as_str().unwrap().to_string();
    let manifest = env.h.dir.join("fraud-streamjob.yaml");
    std::fs::write(
        &manifest,
        serde_norway::to_string(&localize(&env, &name)).unwrap(),
    )
    .unwrap();
    // The harness created the topics with the example's partition count; creating them again must fail
    // loudly, which proves the job really uses these names.
    assert!(
        tokio::task::block_in_place(|| create_job_topics(
            &env.h.bootstrap,
            &env.h.job.topics,
            partitions
        ))
        .is_err()
    );

    let out = env
        .kubectl()
        .args(["apply", "-f"])
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `sluice produce` at a fixed rate, as a separate process (topic names from the job file).
    let mut producer =
        start_example_load(&env.h.bootstrap, &env.h.job, partitions, 6_000, &env.h.dir).unwrap();
    let job_file = env.h.dir.join("job.yaml");

    let jobs = env.jobs();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let state = loop {
        let job = jobs.get(&name).await.unwrap();
        if steady(&job, parallelism) {
            break job.status.and_then(|s| s.lifecycle_state);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not RUNNING/STABLE: {}",
            serde_json::to_string_pretty(&job.status).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(matches!(
        state,
        Some(LifecycleState::Running | LifecycleState::Stable)
    ));
    let status = tokio::task::block_in_place(|| producer.wait_exit(Duration::from_secs(300)))
        .expect("sluice produce finished");
    assert!(status.success(), "{}", producer.log_tail(20));
    env.wait_consumed("the produced load", Duration::from_secs(300))
        .await;

    // `sluice verify`, the auditor's command, over the committed output.
    let out = Command::new(binary("sluice").unwrap())
        .args(["verify", "--json", "--bootstrap", &env.h.bootstrap, "--job"])
        .arg(&job_file)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "verify failed: {report:#}");
    for field in [
        "duplicate_decisions",
        "missing_decisions",
        "unexpected_decisions",
        "mismatched_decisions",
        "unprocessed_records",
    ] {
        assert_eq!(report[field], 0, "{field}: {report:#}");
    }
    assert!(
        report["actual_decisions"].as_u64().unwrap() >= 5_900,
        "{report:#}"
    );
    assert!(report["actual_dlq"].as_u64().unwrap() > 0, "{report:#}");
    let n = |k: &str| report[k].as_u64().unwrap_or(u64::MAX);
    let verified = Some((
        n("duplicate_decisions"),
        n("missing_decisions") + n("unprocessed_records"),
        n("mismatched_decisions")
            + n("unexpected_decisions")
            + n("mismatched_dlq")
            + n("mismatched_late"),
    ));
    for (scenario, events) in [
        (
            "1. kubectl apply of the example, load from sluice produce",
            format!("{parallelism} workers over {partitions} partitions, 400 records/s"),
        ),
        (
            "7. poison messages",
            format!(
                "{} malformed records in the DLQ, job never halted",
                n("actual_dlq")
            ),
        ),
    ] {
        common::report::Row {
            scenario: scenario.into(),
            events,
            kills: 0,
            verified,
            seconds: started.elapsed().as_secs_f64(),
        }
        .record();
    }
}
