#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The whole operator loop with real parts: Kafka, the S3 server, the local kube-apiserver, the node agent
//! running `sluice-worker` pods as local processes, and the operator's controller. A StreamJob is deployed,
//! processes a batch, is rescaled 2 → 3 through a stop-with-savepoint upgrade driven only by the operator, then
//! processes a second batch — and `sluice verify` finds every decision exactly once.

use std::time::Duration;

use aws_sdk_s3::config::{Credentials, Region};
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};
use sluice_crds::{LifecycleState, SavepointTrigger, StreamJob};
use sluice_e2e::cache::run_root;
use sluice_e2e::job_harness::JobHarness;
use sluice_e2e::node_agent::{self, AgentConfig};
use sluice_e2e::testbed::{S3_ACCESS_KEY, S3_SECRET_KEY};
use sluice_e2e::{KubeCluster, TestBed, unique_name};
use sluice_operator::controller::{self, Context};
use sluice_operator::metrics::Metrics;
use sluice_operator::worker_client::WorkerClient;
use sluice_runtime::generator::GeneratorConfig;

const CRD_YAML: &str = include_str!("../../charts/sluice-operator/crds/streamjob.yaml");
const PARTITIONS: i32 = 4;
const JOB_YAML: &str = "commitInterval: 100ms\ncommitMaxRecords: 500\nstate:\n  checkpointInterval: 1s\n  retainedCheckpoints: 2\n  blockCacheMib: 16\n  writeBufferMib: 16\n";

fn produce(h: &JobHarness, batch: u64, authorizations: u64) -> u64 {
    let g = GeneratorConfig {
        seed: 500 + batch,
        cards: 600,
        partitions: PARTITIONS as u32,
        authorizations,
        events_per_second: 400,
        malformed_per_mille: 4,
        start_time_ms: GeneratorConfig::default().start_time_ms + batch as i64 * 120_000,
        ..GeneratorConfig::default()
    };
    sluice_runtime::produce::produce(&h.bootstrap, &h.job.topics, g, 0, |_| {})
        .unwrap()
        .records
}

fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            S3_ACCESS_KEY,
            S3_SECRET_KEY,
            None,
            None,
            "t",
        ))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

async fn make_bucket(endpoint: &str) -> String {
    let bucket = unique_name("opckpt");
    s3_client(endpoint)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    bucket
}

/// Objects under a savepoint directory `s3://bucket/prefix`.
async fn objects_under(endpoint: &str, location: &str) -> usize {
    let rest = location.strip_prefix("s3://").unwrap();
    let (bucket, prefix) = rest.split_once('/').unwrap();
    s3_client(endpoint)
        .list_objects_v2()
        .bucket(bucket)
        .prefix(format!("{prefix}/"))
        .send()
        .await
        .unwrap()
        .contents()
        .len()
}

/// Bumps `savepointTriggerNonce` to `nonce` and waits for the manual savepoint to be in the history.
async fn manual_savepoint(jobs: &Api<StreamJob>, nonce: i64, extra: serde_json::Value) -> String {
    let mut patch = serde_json::json!({"spec": {"savepointTriggerNonce": nonce}});
    if let (Some(p), Some(e)) = (patch["spec"].as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    jobs.patch("fraud", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_for(
        jobs,
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

async fn create<K>(client: &Client, ns: &str, json: serde_json::Value)
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(json).unwrap();
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
}

/// Polls `f` every 500 ms until it returns Some, failing with `what` and the job's status after `timeout`.
async fn wait_for<T>(
    jobs: &Api<StreamJob>,
    what: &str,
    timeout: Duration,
    mut f: impl AsyncFnMut(&StreamJob) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let job = jobs.get("fraud").await.unwrap();
        if let Some(v) = f(&job).await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; status: {}",
            serde_json::to_string_pretty(&job.status).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn steady(job: &StreamJob, parallelism: i32) -> bool {
    job.status.as_ref().is_some_and(|s| {
        s.upgrade.is_none()
            && s.parallelism == Some(parallelism)
            && matches!(
                s.lifecycle_state,
                Some(LifecycleState::Running | LifecycleState::Stable)
            )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_rescales_through_a_savepoint_with_exactly_once() {
    let bed = tokio::task::block_in_place(TestBed::with_kafka_and_s3).unwrap();
    let endpoint = bed.s3_endpoint().to_string();
    let bucket = make_bucket(&endpoint).await;
    let dir = run_root().join(unique_name("op-upgrade"));
    let mut h = tokio::task::block_in_place(|| {
        JobHarness::new(bed.kafka_bootstrap(), &dir, PARTITIONS, JOB_YAML)
    })
    .unwrap();
    h.with_store(&format!("s3://{bucket}/store"), Some(&endpoint));

    let kube_dir = run_root().join(unique_name("kube-op"));
    let cluster = tokio::task::spawn_blocking(move || KubeCluster::from_env_or_start(&kube_dir))
        .await
        .unwrap()
        .unwrap();
    let client = cluster.client().await.unwrap();
    let crd: CustomResourceDefinition = serde_yaml::from_str(CRD_YAML).unwrap();
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    crds.patch(
        "streamjobs.sluice.dev",
        &PatchParams::apply("sluice-e2e").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(
            crds,
            "streamjobs.sluice.dev",
            conditions::is_crd_established(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let ns = unique_name("opup");
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    create::<Secret>(
        &client,
        &ns,
        serde_json::json!({"metadata": {"name": "control"}, "stringData": {"token": h.token}}),
    )
    .await;
    create::<Secret>(
        &client,
        &ns,
        serde_json::json!({"metadata": {"name": "s3"}, "stringData": {
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}}),
    )
    .await;

    let agent = tokio::spawn(node_agent::run(
        client.clone(),
        AgentConfig {
            node_name: unique_name("node"),
            root_dir: run_root().join(unique_name("op-agent")),
            images: node_agent::default_image_mappings(),
            namespace: Some(ns.clone()),
        },
    ));
    let (_leader_tx, leader) = tokio::sync::watch::channel(true);
    let ctx = std::sync::Arc::new(Context::new(
        client.clone(),
        WorkerClient::new().unwrap(),
        Metrics::new(),
        leader,
        "e2e".into(),
    ));
    let operator = tokio::spawn(controller::run(ctx, Some(ns.clone())));

    let jobs: Api<StreamJob> = Api::namespaced(client.clone(), &ns);
    let job: StreamJob = serde_json::from_value(serde_json::json!({
        "apiVersion": "sluice.dev/v1alpha1",
        "kind": "StreamJob",
        "metadata": {"name": "fraud"},
        "spec": {
            "image": "sluice-worker:e2e",
            "parallelism": 2,
            "partitions": PARTITIONS,
            "job": h.job,
            "controlApi": {"tokenSecret": {"name": "control", "key": "token"}},
            "storage": {"credentialsSecret": {"name": "s3"}},
            "restartPolicy": {"backoffInitial": "1s", "maxRestarts": 3},
            "rollback": {"readinessTimeout": "3m", "stableAfter": "5s"}
        }
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();

    let mut produced = tokio::task::block_in_place(|| produce(&h, 0, 4_000));
    wait_for(
        &jobs,
        "2 ready workers",
        Duration::from_secs(180),
        async |j| steady(j, 2).then_some(()),
    )
    .await;
    wait_for(
        &jobs,
        "batch 0 consumed",
        Duration::from_secs(180),
        async |_| (tokio::task::block_in_place(|| h.lag()).ok()? == 0).then_some(()),
    )
    .await;

    // Rescale through the operator only: it stops every worker with a savepoint and restores 3 from it.
    let scale = serde_json::json!({"spec": {"parallelism": 3}});
    jobs.patch("fraud", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .unwrap();
    let job = wait_for(
        &jobs,
        "3 ready workers",
        Duration::from_secs(300),
        async |j| steady(j, 3).then(|| j.clone()),
    )
    .await;
    let status = job.status.unwrap();
    let sp = status
        .savepoints
        .last()
        .expect("the rescale savepoint is in the history");
    assert_eq!(sp.trigger, SavepointTrigger::Upgrade);
    assert!(
        sp.location.starts_with(&format!("s3://{bucket}/store")),
        "{}",
        sp.location
    );
    assert_eq!(status.restored_from.as_deref(), Some(sp.location.as_str()));
    let pods = Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&ListParams::default().labels("sluice.dev/job=fraud"))
        .await
        .unwrap();
    let mut names: Vec<String> = pods.items.iter().map(ResourceExt::name_any).collect();
    names.sort();
    assert_eq!(
        names,
        vec!["fraud-worker-0", "fraud-worker-1", "fraud-worker-2"]
    );

    produced += tokio::task::block_in_place(|| produce(&h, 1, 3_000));
    wait_for(
        &jobs,
        "batch 1 consumed",
        Duration::from_secs(180),
        async |_| (tokio::task::block_in_place(|| h.lag()).ok()? == 0).then_some(()),
    )
    .await;

    let report = tokio::task::block_in_place(|| h.verify()).unwrap();
    assert_eq!(report.input_records, produced);
    assert_eq!(report.unprocessed_records, 0);
    assert!(
        report.ok(),
        "exactly-once violated across the operator's rescale: {report:#?}"
    );

    // Retention: keep one savepoint (plus the one the deployment restored from). A second manual savepoint
    // expires the first, which the operator deletes from S3.
    let first = manual_savepoint(
        &jobs,
        1,
        serde_json::json!({"savepointRetention": {"maxCount": 1}}),
    )
    .await;
    assert!(
        objects_under(&endpoint, &first).await > 0,
        "{first} is empty"
    );
    let second = manual_savepoint(&jobs, 2, serde_json::json!({})).await;
    let kept: Vec<String> = jobs
        .get("fraud")
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
    jobs.delete("fraud", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_gone(&client, &ns).await;
    operator.abort();
    agent.abort();
}

async fn wait_for_gone(client: &Client, ns: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    for _ in 0..120 {
        if pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("worker pods still present 60s after the StreamJob was deleted");
}
