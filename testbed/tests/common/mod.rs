//! What the operator end-to-end tests share: Kafka, the S3 server and the local kube-apiserver with the
//! StreamJob CRD installed, a namespace with the control-token and S3 Secrets, the node agent running worker
//! pods as local processes, and the operator's controller. Each test file includes it with `mod common;`.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod model_upgrade;
pub mod operators;
pub mod report;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, ResourceExt};
use sluice_crds::{LifecycleState, StreamJob};
use sluice_operator::controller::{self, Context};
use sluice_operator::lease::Leadership;
use sluice_operator::metrics::Metrics;
use sluice_operator::worker_client::WorkerClient;
use sluice_testbed::cache::run_root;
use sluice_testbed::job_harness::JobHarness;
use sluice_testbed::node_agent::{self, AgentConfig};
pub use sluice_testbed::testbed::s3_client;
use sluice_testbed::testbed::{S3_ACCESS_KEY, S3_SECRET_KEY};
use sluice_testbed::{KubeCluster, TestBed, unique_name};
use tokio::task::AbortHandle;

const CRD_YAML: &str = include_str!("../../../charts/sluice-operator/crds/streamjob.yaml");

/// The StreamJob every operator test deploys.
pub const JOB_NAME: &str = "fraud";

/// Objects under a savepoint directory `s3://bucket/prefix`.
pub async fn objects_under(endpoint: &str, location: &str) -> usize {
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

/// A fresh bucket with a unique name starting with `prefix`.
pub async fn make_bucket(endpoint: &str, prefix: &str) -> String {
    let bucket = unique_name(prefix);
    s3_client(endpoint)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    bucket
}

/// Creates a namespaced object from JSON.
pub async fn create<K>(client: &Client, ns: &str, json: serde_json::Value)
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

/// The running world of one operator test.
pub struct OperatorEnv {
    pub bed: TestBed,
    /// The fraud job's topics, config, token, and the oracle check.
    pub h: JobHarness,
    pub endpoint: String,
    pub bucket: String,
    pub client: Client,
    pub ns: String,
    _cluster: KubeCluster,
    /// The node agent's directory: `<namespace>_<pod>/<container>.log` holds each worker's log.
    pub agent_dir: std::path::PathBuf,
    agent: AbortHandle,
    operators: Vec<AbortHandle>,
}

impl OperatorEnv {
    /// Starts (or reuses) the services, installs the CRD, creates a namespace `<tag>-…` with the Secrets
    /// `control` (token) and `s3` (credentials), and runs the node agent in it. The job's checkpoint store is
    /// a fresh bucket; `job_yaml` holds the worker settings (commit/checkpoint intervals, ...).
    pub async fn start(tag: &str, partitions: i32, job_yaml: &str) -> OperatorEnv {
        let bed = tokio::task::block_in_place(TestBed::with_kafka_and_s3).unwrap();
        OperatorEnv::start_on(bed, tag, partitions, job_yaml).await
    }

    /// Like [`OperatorEnv::start`] on the given services (e.g. private ones a test restarts).
    pub async fn start_on(bed: TestBed, tag: &str, partitions: i32, job_yaml: &str) -> OperatorEnv {
        let endpoint = bed.s3_endpoint().to_string();
        let bucket = make_bucket(&endpoint, &format!("{tag}-ckpt")).await;
        let dir = run_root().join(unique_name(tag));
        let mut h = tokio::task::block_in_place(|| {
            JobHarness::new(bed.kafka_bootstrap(), &dir, partitions, job_yaml)
        })
        .unwrap();
        h.with_store(&format!("s3://{bucket}/store"), Some(&endpoint));

        let kube_dir = run_root().join(unique_name(&format!("{tag}-kube")));
        let cluster =
            tokio::task::spawn_blocking(move || KubeCluster::from_env_or_start(&kube_dir))
                .await
                .unwrap()
                .unwrap();
        let client = cluster.client().await.unwrap();
        install_crd(&client).await;
        let ns = unique_name(tag);
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
        let (key_id, key) = sluice_testbed::example::example_state_key();
        create::<Secret>(
            &client,
            &ns,
            serde_json::json!({"metadata": {"name": sluice_testbed::example::STATE_KEYS_SECRET},
                "stringData": {key_id: key}}),
        )
        .await;
        let agent_dir = run_root().join(unique_name(&format!("{tag}-agent")));
        let agent = tokio::spawn(node_agent::run(
            client.clone(),
            AgentConfig {
                node_name: unique_name("node"),
                root_dir: agent_dir.clone(),
                images: node_agent::default_image_mappings(),
                namespace: Some(ns.clone()),
            },
        ));
        OperatorEnv {
            bed,
            h,
            endpoint,
            bucket,
            client,
            ns,
            _cluster: cluster,
            agent_dir,
            agent: agent.abort_handle(),
            operators: Vec::new(),
        }
    }

    /// Runs the operator's controller in this process, always leading, watching the test's namespace.
    pub fn run_operator(&mut self) {
        let ctx = Arc::new(Context::new(
            self.client.clone(),
            WorkerClient::new().unwrap(),
            Metrics::new(),
            Leadership::always(),
            "e2e".into(),
        ));
        let ns = self.ns.clone();
        let task = tokio::spawn(async move {
            controller::run(ctx, controller::Scope::Namespaces(vec![ns])).await;
        });
        self.operators.push(task.abort_handle());
    }

    /// The admin kubeconfig of the cluster, for processes started by the test (e.g. `sluice-operator`).
    pub fn kubeconfig_path(&self) -> &std::path::Path {
        self._cluster.kubeconfig_path()
    }

    /// `kubectl` against the test's API server.
    pub fn kubectl(&self) -> std::process::Command {
        self._cluster.kubectl()
    }

    pub fn jobs(&self) -> Api<StreamJob> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// The StreamJob `fraud` running the harness's job with `parallelism` workers, the control-token and S3
    /// Secrets, a quick restart policy and rollback timing; `extra` is merged into the top level (e.g.
    /// `{"metadata": {"annotations": ...}}` or more spec fields under `"spec"`).
    pub fn stream_job(&self, parallelism: i32, extra: serde_json::Value) -> StreamJob {
        let mut job = serde_json::json!({
            "apiVersion": "sluice.dev/v1alpha1",
            "kind": "StreamJob",
            "metadata": {"name": JOB_NAME},
            "spec": {
                "image": "sluice-worker:e2e",
                "parallelism": parallelism,
                "partitions": self.h.partitions,
                "job": self.h.job,
                "controlApi": {"tokenSecret": {"name": "control", "key": "token"}},
                "storage": {"credentialsSecret": {"name": "s3"}},
                "restartPolicy": {"backoffInitial": "1s", "maxRestarts": 3},
                "rollback": {"readinessTimeout": "3m", "stableAfter": "5s"}
            }
        });
        merge(&mut job, extra);
        serde_json::from_value(job).unwrap()
    }

    /// Polls the job every 500 ms until `f` returns Some; fails with `what` and the job's status after
    /// `timeout`.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl AsyncFnMut(&StreamJob) -> Option<T>,
    ) -> T {
        let jobs = self.jobs();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let job = jobs.get(JOB_NAME).await.unwrap();
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

    /// Waits until the job's input is fully committed.
    pub async fn wait_consumed(&self, what: &str, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut lag = tokio::task::block_in_place(|| self.h.lag());
        while !matches!(lag, Ok(0)) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; lag: {lag:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
            lag = tokio::task::block_in_place(|| self.h.lag());
        }
    }

    /// Names of the job's worker pods, sorted.
    pub async fn pod_names(&self) -> Vec<String> {
        let pods = self
            .pods()
            .list(&ListParams::default().labels(&format!("sluice.dev/job={JOB_NAME}")))
            .await
            .unwrap();
        let mut names: Vec<String> = pods.items.iter().map(ResourceExt::name_any).collect();
        names.sort();
        names
    }

    /// Waits until no pod is left in the namespace.
    pub async fn wait_pods_gone(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self
            .pods()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "worker pods still present {timeout:?} later"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for OperatorEnv {
    fn drop(&mut self) {
        for op in &self.operators {
            op.abort();
        }
        self.agent.abort();
    }
}

/// Server-side-applies the committed StreamJob CRD (as the chart would be applied) and waits until it is
/// Established.
pub async fn install_crd(client: &Client) {
    let crd: CustomResourceDefinition = serde_norway::from_str(CRD_YAML).unwrap();
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    crds.patch(
        "streamjobs.sluice.dev",
        &PatchParams::apply("sluice-testbed").force(),
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
}

/// JSON merge of `extra` into `base` (objects merge recursively, everything else replaces).
fn merge(base: &mut serde_json::Value, extra: serde_json::Value) {
    match (base, extra) {
        (serde_json::Value::Object(b), serde_json::Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

/// Settled on `parallelism` workers: no upgrade in flight, RUNNING or STABLE.
pub fn steady(job: &StreamJob, parallelism: i32) -> bool {
    job.status.as_ref().is_some_and(|s| {
        s.upgrade.is_none()
            && s.parallelism == Some(parallelism)
            && matches!(
                s.lifecycle_state,
                Some(LifecycleState::Running | LifecycleState::Stable)
            )
    })
}
