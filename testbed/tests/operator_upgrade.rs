#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The whole operator loop with real parts: Kafka, the S3 server, the local kube-apiserver, the node agent
//! running `sluice-worker` pods as local processes, and the operator's controller. A StreamJob is deployed,
//! processes a batch, is rescaled 2 → 3 through a stop-with-savepoint upgrade driven only by the operator, then
//! processes a second batch — and `sluice verify` finds every decision exactly once.

mod common;

use std::time::Duration;

use common::{JOB_NAME, OperatorEnv, objects_under, steady};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use sluice_crds::SavepointTrigger;
use sluice_testbed::input::InputBatches;

const PARTITIONS: i32 = 4;
const INPUT: InputBatches = InputBatches::new(500, PARTITIONS as u32);
const JOB_YAML: &str = "commitInterval: 100ms\ncommitMaxRecords: 500\nstate:\n  checkpointInterval: 1s\n  retainedCheckpoints: 2\n  blockCacheMib: 16\n  writeBufferMib: 16\n";

/// Bumps `savepointTriggerNonce` to `nonce` and waits for the manual savepoint to be in the history.
async fn manual_savepoint(env: &OperatorEnv, nonce: i64, extra: serde_json::Value) -> String {
    let mut patch = serde_json::json!({"spec": {"savepointTriggerNonce": nonce}});
    if let (Some(p), Some(e)) = (patch["spec"].as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    env.jobs()
        .patch(JOB_NAME, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    env.wait_for(
        "the manual savepoint",
        Duration::from_secs(120),
        async |j| {
            let s = j.status.as_ref()?;
            let last = s.savepoints.last()?;
            (s.pending_savepoint.is_none()
                && s.nonces.savepoint == Some(nonce)
                && last.trigger == SavepointTrigger::Manual)
                .then(|| last.location.clone())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_rescales_through_a_savepoint_with_exactly_once() {
    let started = std::time::Instant::now();
    let mut env = OperatorEnv::start("opup", PARTITIONS, JOB_YAML).await;
    env.run_operator();
    let jobs = env.jobs();
    // The first workers serve plain HTTP (controlTls off, as pods from before the operator had it); the
    // rescale also turns control TLS on, so the operator must reach the old pods over HTTP for the
    // savepoint and the new ones over TLS.
    let plain = serde_json::json!({"spec": {"controlTls": {"mode": "Disabled"}}});
    jobs.create(&PostParams::default(), &env.stream_job(2, plain))
        .await
        .unwrap();

    let mut produced = tokio::task::block_in_place(|| INPUT.produce(&env.h, 0, 4_000).unwrap());
    env.wait_for("2 ready workers", Duration::from_secs(180), async |j| {
        steady(j, 2).then_some(())
    })
    .await;
    env.wait_consumed("batch 0 consumed", Duration::from_secs(180))
        .await;

    // Rescale through the operator only: it stops every worker with a savepoint and restores 3 from it.
    let scale =
        serde_json::json!({"spec": {"parallelism": 3, "controlTls": {"mode": "OperatorCa"}}});
    jobs.patch(JOB_NAME, &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .unwrap();
    let job = env
        .wait_for("3 ready workers", Duration::from_secs(300), async |j| {
            steady(j, 3).then(|| j.clone())
        })
        .await;
    let status = job.status.unwrap();
    let sp = status
        .savepoints
        .last()
        .expect("the rescale savepoint is in the history");
    assert_eq!(sp.trigger, SavepointTrigger::Upgrade);
    assert!(
        sp.location
            .starts_with(&format!("s3://{}/store", env.bucket)),
        "{}",
        sp.location
    );
    assert_eq!(status.restored_from.as_deref(), Some(sp.location.as_str()));
    assert_eq!(
        env.pod_names().await,
        vec!["fraud-worker-0", "fraud-worker-1", "fraud-worker-2"]
    );
    // The new workers serve TLS, and the operator reads their status through it (workersRunning).
    let selector = format!("sluice.dev/job={JOB_NAME}");
    let pods = env
        .pods()
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
        .unwrap();
    for p in &pods.items {
        let env_names: Vec<String> = p.spec.as_ref().unwrap().containers[0]
            .env
            .iter()
            .flatten()
            .map(|e| e.name.clone())
            .collect();
        assert!(
            env_names
                .iter()
                .any(|n| n == "SLUICE_CONTROL_TLS_CERT_FILE")
        );
    }
    env.wait_for(
        "3 workers answering over TLS",
        Duration::from_secs(60),
        async |j| (j.status.as_ref()?.job.as_ref()?.workers_running == 3).then_some(()),
    )
    .await;

    produced += tokio::task::block_in_place(|| INPUT.produce(&env.h, 1, 3_000).unwrap());
    env.wait_consumed("batch 1 consumed", Duration::from_secs(180))
        .await;

    let report = tokio::task::block_in_place(|| env.h.verify()).unwrap();
    assert_eq!(report.input_records, produced);
    assert_eq!(report.unprocessed_records, 0);
    assert!(
        report.ok(),
        "exactly-once violated across the operator's rescale: {report:#?}"
    );
    common::report::record(
        "3. rescale 2 → 3 (spec.parallelism)",
        "stop-with-savepoint, 3 workers restored from it",
        0,
        Some(&report),
        started,
    );

    // Retention: keep one savepoint (plus the one the deployment restored from). A second manual savepoint
    // expires the first, which the operator deletes from S3.
    let endpoint = env.endpoint.clone();
    let first = manual_savepoint(
        &env,
        1,
        serde_json::json!({"savepointRetention": {"maxCount": 1}}),
    )
    .await;
    assert!(
        objects_under(&endpoint, &first).await > 0,
        "{first} is empty"
    );
    let second = manual_savepoint(&env, 2, serde_json::json!({})).await;
    let kept: Vec<String> = jobs
        .get(JOB_NAME)
        .await
        .unwrap()
        .status
        .unwrap()
        .savepoints
        .iter()
        .map(|s| s.location.clone())
        .collect();
    assert_eq!(kept, vec![sp.location.clone(), second.clone()]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while objects_under(&endpoint, &first).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "expired savepoint {first} still in the store"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(objects_under(&endpoint, &second).await > 0);

    // Deleting the job runs the finalizer and removes the pods (the agent stops the processes).
    jobs.delete(JOB_NAME, &DeleteParams::default())
        .await
        .unwrap();
    env.wait_pods_gone(Duration::from_secs(60)).await;
}
