#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The local Kubernetes control plane (etcd + kube-apiserver built from source) is a real API server: CRDs
//! install with server-side apply and get Established, objects validate against the CRD schema (with defaults),
//! kubectl works through the generated kubeconfig, and RBAC denies a ServiceAccount that has no binding.
//!
//! Uses the shared cluster from `$SLUICE_KUBECONFIG` when `sluice-testbed serve` started one, else starts a
//! private one (building the binaries first if they are missing).

mod common;

use std::time::Duration;

use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenRequest};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::{Client, ResourceExt};
use sluice_crds::StreamJob;
use sluice_testbed::cache::run_root;
use sluice_testbed::{KubeCluster, unique_name};

const CRD_YAML: &str = include_str!("../../charts/sluice-operator/crds/streamjob.yaml");
const EXAMPLE_YAML: &str = include_str!("../../examples/fraud-streamjob.yaml");

/// The `default` of a property in the CRD's first version's schema, e.g. `["spec", "job", "commitInterval"]`.
fn crd_default(crd: &CustomResourceDefinition, path: &[&str]) -> serde_json::Value {
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
    let mut node = &schema["openAPIV3Schema"];
    for key in path {
        node = &node["properties"][*key];
    }
    assert!(!node["default"].is_null(), "no default at {path:?}");
    node["default"].clone()
}

async fn cluster() -> KubeCluster {
    let dir = run_root().join(unique_name("kube"));
    tokio::task::spawn_blocking(move || KubeCluster::from_env_or_start(&dir))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("starting the control plane: {e}"))
}

async fn namespace(client: &Client, prefix: &str) -> String {
    let name = unique_name(prefix);
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": { "name": name }
    }))
    .unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    name
}

fn api_status(err: kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error status, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_namespace_configmap_kubectl_and_streamjob() {
    let cluster = cluster().await;
    let client = cluster.client().await.unwrap();

    // The committed CRD, installed the way the operator's chart would be applied: server-side apply.
    common::install_crd(&client).await;
    let crd: CustomResourceDefinition = serde_norway::from_str(CRD_YAML).unwrap();

    let ns = namespace(&client, "smoke").await;
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "settings" },
        "data": { "greeting": "hello" }
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let read = config_maps.get("settings").await.unwrap();
    assert_eq!(
        read.data.unwrap().get("greeting").map(String::as_str),
        Some("hello")
    );

    let out = cluster
        .kubectl()
        .args(["get", "ns", "-o", "name"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().any(|l| l == format!("namespace/{ns}")),
        "kubectl get ns did not list {ns}:\n{stdout}"
    );

    // The committed example StreamJob, through the dynamic API (exactly what `kubectl apply` sends), minus one
    // field that has a schema default: the server must fill it in from the CRD's structural schema.
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "sluice.dev",
        "v1alpha1",
        "StreamJob",
    ));
    let jobs = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &resource);
    let mut job: DynamicObject = serde_norway::from_str(EXAMPLE_YAML).unwrap();
    job.metadata.namespace = Some(ns.clone());
    let name = job.name_any();
    let default = crd_default(&crd, &["spec", "job", "commitInterval"]);
    job.data["spec"]["job"]
        .as_object_mut()
        .unwrap()
        .remove("commitInterval");
    let created = jobs.create(&PostParams::default(), &job).await.unwrap();
    assert_eq!(
        created.data["spec"]["job"]["commitInterval"], default,
        "schema default not applied: {}",
        created.data
    );
    // The typed Rust resource reads what the server stored.
    let typed = Api::<StreamJob>::namespaced(client.clone(), &ns)
        .get(&name)
        .await
        .unwrap();
    assert_eq!(
        i64::from(typed.spec.parallelism),
        job.data["spec"]["parallelism"].as_i64().unwrap()
    );

    // The CRD's CEL rule (parallelism <= partitions) is enforced: 422 Unprocessable Entity.
    let mut bad = job.clone();
    bad.metadata.name = Some("too-parallel".into());
    let partitions = job.data["spec"]["partitions"].as_i64().unwrap();
    bad.data["spec"]["parallelism"] = serde_json::json!(partitions + 1);
    let err = jobs.create(&PostParams::default(), &bad).await.unwrap_err();
    assert_eq!(api_status(err), 422);

    let out = cluster
        .kubectl()
        .args(["get", "streamjobs", "-n", &ns, "-o", "name"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("streamjob.sluice.dev/{name}"),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_denies_an_unbound_service_account_until_bound() {
    let cluster = cluster().await;
    let admin = cluster.client().await.unwrap();
    let ns = namespace(&admin, "rbac").await;

    let accounts = Api::<ServiceAccount>::namespaced(admin.clone(), &ns);
    let sa: ServiceAccount = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "reader" }
    }))
    .unwrap();
    accounts.create(&PostParams::default(), &sa).await.unwrap();
    let request: TokenRequest = serde_json::from_value(serde_json::json!({
        "spec": { "expirationSeconds": 600 }
    }))
    .unwrap();
    let issued = accounts
        .create_token_request("reader", &PostParams::default(), &request)
        .await
        .unwrap();
    let token = issued
        .status
        .and_then(|s| s.token)
        .expect("TokenRequest returned no token");
    let reader = cluster.client_with_token(&token).await.unwrap();

    // Authenticated (not a 401): the server knows who this is.
    let review = Api::<SelfSubjectReview>::all(reader.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap();
    let user = review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username);
    assert_eq!(
        user.as_deref(),
        Some(format!("system:serviceaccount:{ns}:reader").as_str())
    );

    // ... but not authorized: no RoleBinding yet.
    let pods = Api::<Pod>::namespaced(reader.clone(), &ns);
    let err = pods.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(api_status(err), 403);

    // Bind a Role that allows listing pods; the same token is then allowed (so the 403 above was RBAC).
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "pod-reader" },
        "rules": [ { "apiGroups": [""], "resources": ["pods"], "verbs": ["list"] } ]
    }))
    .unwrap();
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "reader-pods" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader" },
        "subjects": [ { "kind": "ServiceAccount", "name": "reader", "namespace": ns } ]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    // The authorizer reads RBAC objects from its informer cache, so allow a moment for the binding to arrive.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match pods.list(&ListParams::default()).await {
            Ok(list) => {
                assert!(list.items.is_empty());
                break;
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert_eq!(api_status(e), 403);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("still denied 30s after the RoleBinding: {e}"),
        }
    }
    // Still nothing beyond the role: deleting is denied.
    let err = pods
        .delete_collection(&kube::api::DeleteParams::default(), &ListParams::default())
        .await
        .unwrap_err();
    assert_eq!(api_status(err), 403);
}
