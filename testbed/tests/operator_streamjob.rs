#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The operator against a real kube-apiserver (the test bed's etcd + kube-apiserver, no kubelet):
//! - the committed CRD's CEL rules reject bad StreamJobs at admission, naming the field (parallelism 0,
//!   parallelism > partitions, a short transactionTimeout, periodic savepoints under a minute apart, a savepoint
//!   timeout under 10 s, a changed transactionalIdPrefix);
//! - the operator's reconcile (fetch → decide → apply) creates the worker Pods, headless Service and job
//!   ConfigMap with owner references and writes the status with server-side apply;
//! - control TLS (the default): the operator creates its CA Secret, issues the job's certificate Secret
//!   (owned by the job, verifying for this job only) before the pods, which mount it and probe over HTTPS;
//!   a user Secret of that name is reported on `spec.controlTls`, never overwritten;
//! - `/scale` reads and writes `spec.parallelism` / `status.parallelism` / `status.selector`;
//! - the leader-election Lease admits one holder at a time.

mod common;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use sluice_crds::{LifecycleState, StreamJob, UpgradeStep};
use sluice_operator::controller::{Context, Scope, reconcile_live};
use sluice_operator::lease::{Elector, Leadership, LeaseConfig};
use sluice_operator::metrics::Metrics;
use sluice_operator::worker_client::WorkerClient;
use sluice_testbed::cache::run_root;
use sluice_testbed::{KubeCluster, unique_name};

async fn cluster() -> KubeCluster {
    let dir = run_root().join(unique_name("kube-op"));
    tokio::task::spawn_blocking(move || KubeCluster::from_env_or_start(&dir))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("starting the control plane: {e}"))
}

async fn namespace(client: &Client) -> String {
    let name = unique_name("op");
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    name
}

fn job_json(name: &str, parallelism: i64, partitions: i64, txn_timeout: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "sluice.dev/v1alpha1",
        "kind": "StreamJob",
        "metadata": {"name": name},
        "spec": {
            "image": "sluice-worker:test",
            "parallelism": parallelism,
            "partitions": partitions,
            "controlApi": {"tokenSecret": {"name": "control", "key": "token"}},
            "job": {
                "transactionalIdPrefix": format!("{name}-v1"),
                "transactionTimeout": txn_timeout,
                "maxRecoveryTime": "5m",
                "state": {"checkpointStore": "s3://ckpt/test"}
            }
        }
    })
}

/// Creates the object and returns the apiserver's rejection message (panics if it was admitted). The body is
/// sent as untyped JSON, as `kubectl apply` would: values our own types refuse must reach the API server.
async fn rejected(api: &Api<StreamJob>, body: serde_json::Value) -> String {
    let resource = kube::api::ApiResource::erase::<StreamJob>(&());
    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        api.clone().into_client(),
        &body["metadata"]["namespace"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| api.namespace().unwrap_or_default().to_string()),
        &resource,
    );
    let obj: kube::api::DynamicObject = serde_json::from_value(body).unwrap();
    match raw.create(&PostParams::default(), &obj).await {
        Ok(_) => panic!("admitted: {}", obj.name_any()),
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422, "{s:?}");
            s.message
        }
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cel_admission_reconcile_scale_and_lease() {
    let started = std::time::Instant::now();
    let cluster = cluster().await;
    let client = cluster.client().await.unwrap();
    common::install_crd(&client).await;
    let ns = namespace(&client).await;
    let jobs: Api<StreamJob> = Api::namespaced(client.clone(), &ns);

    // Admission: CEL and schema rules name the field.
    let msg = rejected(&jobs, job_json("zero", 0, 4, "15m")).await;
    assert!(msg.contains("spec.parallelism"), "{msg}");
    let msg = rejected(&jobs, job_json("wide", 5, 4, "15m")).await;
    assert!(
        msg.contains("spec.parallelism") && msg.contains("must not exceed partitions"),
        "{msg}"
    );
    let msg = rejected(&jobs, job_json("short", 1, 4, "5m")).await;
    assert!(msg.contains("spec.job.transactionTimeout"), "{msg}");
    // One field of a valid job set to a bad value: refused, naming the field and the rule.
    let refused = [
        (
            "mode",
            "upgradeMode",
            serde_json::json!("best-effort"),
            "spec.upgradeMode",
            "best-effort",
        ),
        (
            "often",
            "savepoints",
            serde_json::json!({"periodic": {"interval": "30s"}}),
            "spec.savepoints.periodic.interval",
            "at least 1m",
        ),
        (
            "hasty",
            "savepoints",
            serde_json::json!({"timeout": "2s"}),
            "spec.savepoints.timeout",
            "at least 10s",
        ),
        (
            "spaced",
            "logging",
            serde_json::json!({"level": "info; debug"}),
            "spec.logging.level",
            "RUST_LOG directives",
        ),
    ];
    for (name, field, value, path, rule) in refused {
        let mut body = job_json(name, 1, 4, "15m");
        body["spec"][field] = value;
        let msg = rejected(&jobs, body).await;
        assert!(msg.contains(path) && msg.contains(rule), "{name}: {msg}");
    }
    // Encrypted state without its keys Secret, and server-side encryption S3 does not know.
    let mut body = job_json("sealed", 1, 4, "15m");
    body["spec"]["job"]["state"]["encryption"] = serde_json::json!({"currentKey": "2026-12"});
    let msg = rejected(&jobs, body).await;
    assert!(
        msg.contains("spec.storage.encryptionKeysSecret") && msg.contains("go together"),
        "{msg}"
    );
    let mut body = job_json("sse", 1, 4, "15m");
    body["spec"]["job"]["state"]["s3"] = serde_json::json!({"sse": "AES256", "sseKmsKeyId": "k"});
    let msg = rejected(&jobs, body).await;
    assert!(
        msg.contains("sseKmsKeyId") && msg.contains("aws:kms"),
        "{msg}"
    );
    let mut body = job_json("sse2", 1, 4, "15m");
    body["spec"]["job"]["state"]["s3"] = serde_json::json!({"sse": "aes256"});
    let msg = rejected(&jobs, body).await;
    assert!(msg.contains("spec.job.state.s3.sse"), "{msg}");
    // A credential among the Kafka client properties: refused before it reaches etcd, the value not echoed.
    for key in ["sasl.password", "ssl.key.pem"] {
        let mut body = job_json(&format!("creds-{}", key.replace('.', "-")), 1, 4, "15m");
        body["spec"]["job"]["kafka"] = serde_json::json!({
            "bootstrapServers": "kafka:9092",
            "properties": {"security.protocol": "SASL_SSL", key: "hunter2-not-stored"}
        });
        let msg = rejected(&jobs, body).await;
        assert!(
            msg.contains("spec.job.kafka.properties") && msg.contains("spec.kafkaAuth"),
            "{key}: {msg}"
        );
        assert!(
            !msg.contains("hunter2"),
            "{key}: the value was echoed: {msg}"
        );
    }
    // Typed Kafka security: a SASL protocol without its mechanism or without the credentials Secret, and a
    // property the typed settings own, each refused naming the field.
    for (name, security, auth, properties, field) in [
        (
            "sasl-no-mechanism",
            serde_json::json!({"protocol": "SASL_SSL"}),
            serde_json::json!({"saslSecret": {"name": "kafka-user"}}),
            serde_json::json!({}),
            "spec.job.kafka.security.saslMechanism",
        ),
        (
            "sasl-no-secret",
            serde_json::json!({"protocol": "SASL_SSL", "saslMechanism": "SCRAM-SHA-512"}),
            serde_json::json!({"tlsSecret": {"name": "kafka-ca"}}),
            serde_json::json!({}),
            "spec.kafkaAuth.saslSecret",
        ),
        (
            "owned-property",
            serde_json::json!({"protocol": "SSL"}),
            serde_json::json!({"tlsSecret": {"name": "kafka-ca"}}),
            serde_json::json!({"ssl.ca.location": "/tmp/ca.crt"}),
            "spec.job.kafka.properties",
        ),
    ] {
        let mut body = job_json(name, 1, 4, "15m");
        body["spec"]["job"]["kafka"] = serde_json::json!({
            "bootstrapServers": "kafka:9093", "security": security, "properties": properties
        });
        body["spec"]["kafkaAuth"] = auth;
        let msg = rejected(&jobs, body).await;
        assert!(msg.contains(field), "{name}: {msg}");
    }
    // People's access: an OIDC issuer over plain HTTP off loopback, and the `none` algorithm.
    let token_secret = serde_json::json!({"name": "tok", "key": "token"});
    for (name, oidc, field) in [
        (
            "oidc-http",
            serde_json::json!({"issuer": "http://idp.example.com", "audience": "sluice"}),
            "spec.controlApi.oidc.issuer",
        ),
        (
            "oidc-none",
            serde_json::json!({"issuer": "https://idp.example.com", "audience": "sluice", "algorithms": ["none"]}),
            "spec.controlApi.oidc.algorithms",
        ),
    ] {
        let mut body = job_json(name, 1, 4, "15m");
        body["spec"]["controlApi"] = serde_json::json!({"tokenSecret": token_secret, "oidc": oidc});
        let msg = rejected(&jobs, body).await;
        assert!(msg.contains(field), "{name}: {msg}");
    }
    // 45d-style units are understood by the rule (2d > 100ms + 5m is admitted).
    let long: StreamJob = serde_json::from_value(job_json("long", 1, 4, "2d")).unwrap();
    jobs.create(&PostParams::default(), &long).await.unwrap();

    let name = "fraud";
    let job: StreamJob = serde_json::from_value(job_json(name, 2, 4, "15m")).unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let change = serde_json::json!({"spec": {"job": {"transactionalIdPrefix": "other"}}});
    let err = jobs
        .patch(name, &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap_err();
    let kube::Error::Api(s) = err else {
        panic!("{err}")
    };
    assert!(
        s.message.contains("spec.job.transactionalIdPrefix") && s.message.contains("immutable"),
        "{}",
        s.message
    );
    common::report::record(
        "6. invalid StreamJobs",
        "parallelism 0, parallelism > partitions, short transactionTimeout, unknown upgradeMode, periodic \
         savepoints every 30s, a 2s savepoint timeout, a log level with a space, state encryption without its keys Secret, an unknown SSE and an SSE-KMS key without aws:kms, an OIDC issuer over plain HTTP and the `none` algorithm, sasl.password and ssl.key.pem in kafka.properties (value not echoed), kafka.security with SASL_SSL but no mechanism or no credentials Secret and with a property it owns, changed transactionalIdPrefix: each rejected (422) with the message naming the field",
        0,
        None,
        started,
    );

    // Reconcile without the token Secret and with a user's Secret where the job's control certificate goes:
    // the status names both, nothing is deployed, the user's Secret is left alone.
    let ctx = Context::new(
        client.clone(),
        WorkerClient::new().unwrap(),
        Metrics::new(),
        Leadership::always(),
        "test".into(),
    )
    .with_control_ca(ns.clone(), "control-ca".into());
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
    let squatter: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "fraud-control-tls"}, "stringData": {"mine": "keep"}
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &squatter)
        .await
        .unwrap();
    let current = jobs.get(name).await.unwrap();
    reconcile_live(&current, &ctx).await.unwrap();
    let st = jobs.get(name).await.unwrap().status.unwrap();
    let degraded = st
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap();
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "InvalidSpec")
    );
    assert!(
        degraded.message.contains("spec.controlApi.tokenSecret")
            && degraded.message.contains("spec.controlTls"),
        "{}",
        degraded.message
    );
    assert_eq!(st.lifecycle_state, Some(LifecycleState::Created));
    let kept = secrets.get("fraud-control-tls").await.unwrap();
    assert_eq!(kept.data.unwrap().keys().collect::<Vec<_>>(), vec!["mine"]);
    secrets
        .delete("fraud-control-tls", &Default::default())
        .await
        .unwrap();

    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "control"}, "stringData": {"token": "s3cret"}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    // Two reconciles: start the initial deployment (persisted first), then create the objects.
    for _ in 0..2 {
        let current = jobs.get(name).await.unwrap();
        reconcile_live(&current, &ctx).await.unwrap();
    }
    let current = jobs.get(name).await.unwrap();
    let uid = current.uid().unwrap();
    let st = current.status.clone().unwrap();
    assert_eq!(st.lifecycle_state, Some(LifecycleState::Deploying));
    assert!(
        matches!(
            st.upgrade.as_ref().map(|u| &u.step),
            Some(UpgradeStep::Deploying { .. })
        ),
        "{:?}",
        st.upgrade
    );
    assert_eq!(st.parallelism, Some(2));
    assert_eq!(st.observed_generation, current.metadata.generation);
    assert!(st.last_reconciled_spec.is_some());

    let owned_by_job =
        |refs: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference]| {
            refs.iter()
                .any(|r| r.uid == uid && r.kind == "StreamJob" && r.controller == Some(true))
        };
    let pods = Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&ListParams::default().labels("sluice.dev/job=fraud"))
        .await
        .unwrap();
    let mut names: Vec<String> = pods.items.iter().map(ResourceExt::name_any).collect();
    names.sort();
    assert_eq!(names, vec!["fraud-worker-0", "fraud-worker-1"]);
    for p in &pods.items {
        assert!(
            owned_by_job(p.owner_references()),
            "{:?}",
            p.owner_references()
        );
        let env = p.spec.as_ref().unwrap().containers[0].env.clone().unwrap();
        let get = |k: &str| {
            env.iter()
                .find(|e| e.name == k)
                .and_then(|e| e.value.clone())
        };
        let ordinal: u32 = p.labels()["sluice.dev/ordinal"].parse().unwrap();
        assert_eq!(
            get("SLUICE_WORKER_IDENTITY"),
            Some(format!("p2-w{ordinal}"))
        );
        assert_eq!(
            get("SLUICE_WORKER_PARTITIONS"),
            Some(if ordinal == 0 {
                "0,1".into()
            } else {
                "2,3".into()
            })
        );
        assert_eq!(
            get("SLUICE_CONTROL_TOKEN_FILE").as_deref(),
            Some("/var/run/secrets/sluice/control/token")
        );
    }
    let svc = Api::<Service>::namespaced(client.clone(), &ns)
        .get("fraud-workers")
        .await
        .unwrap();
    assert!(owned_by_job(svc.owner_references()));
    assert_eq!(svc.spec.unwrap().cluster_ip.as_deref(), Some("None"));
    control_tls_in_place(&secrets, &pods.items, &ns, &uid).await;
    // A later reconcile keeps the certificate (nothing to renew).
    let before = secrets
        .get("fraud-control-tls")
        .await
        .unwrap()
        .resource_version();
    reconcile_live(&jobs.get(name).await.unwrap(), &ctx)
        .await
        .unwrap();
    let after = secrets
        .get("fraud-control-tls")
        .await
        .unwrap()
        .resource_version();
    assert_eq!(before, after);
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("fraud-config")
        .await
        .unwrap();
    assert!(owned_by_job(cm.owner_references()));
    let body = &cm.data.unwrap()["job.yaml"];
    assert!(body.contains("transactionalIdPrefix: fraud-v1"), "{body}");

    // The fields the operator owns are recorded under its field manager (server-side apply).
    let managers: Vec<String> = current
        .metadata
        .managed_fields
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.iter().any(|m| m == "sluice-operator"),
        "{managers:?}"
    );

    // `kubectl scale sj/fraud --replicas=3` goes through /scale.
    let scale = jobs.get_scale(name).await.unwrap();
    assert_eq!(scale.status.as_ref().map(|s| s.replicas), Some(2));
    assert_eq!(
        scale.status.and_then(|s| s.selector).as_deref(),
        Some("app.kubernetes.io/name=sluice-worker,sluice.dev/job=fraud")
    );
    let out = cluster
        .kubectl()
        .args(["scale", "-n", &ns, "sj/fraud", "--replicas=3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl scale: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(jobs.get(name).await.unwrap().spec.parallelism, 3);
    // Scaling beyond the partitions is refused by the same CEL rule.
    let out = cluster
        .kubectl()
        .args(["scale", "-n", &ns, "sj/fraud", "--replicas=9"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must not exceed partitions"));

    // Leader election: one holder at a time.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let a = LeaseConfig {
        namespace: ns.clone(),
        name: "sluice-operator".into(),
        identity: "a".into(),
    };
    let b = LeaseConfig {
        identity: "b".into(),
        ..a.clone()
    };
    let (mut a, mut b) = (
        Elector::new(leases.clone(), a),
        Elector::new(leases.clone(), b),
    );
    assert!(a.round().await.unwrap());
    assert!(!b.round().await.unwrap());
    assert!(a.round().await.unwrap(), "the holder renews");
    // b has seen the Lease change (a's renewal): it waits a whole lease duration from now, on its own clock.
    assert!(!b.round().await.unwrap());
}

/// `--watch-namespaces a,b`: the operator reconciles the jobs of both listed namespaces (one controller each)
/// and leaves a third namespace's job alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_reconciles_only_its_watch_namespaces() {
    let cluster = cluster().await;
    let client = cluster.client().await.unwrap();
    common::install_crd(&client).await;
    let (a, b, other) = (
        namespace(&client).await,
        namespace(&client).await,
        namespace(&client).await,
    );
    for ns in [&a, &b, &other] {
        // No control-token Secret: the operator reports it (a status with a Degraded condition) and deploys
        // nothing, so no worker image or node is needed.
        let jobs: Api<StreamJob> = Api::namespaced(client.clone(), ns);
        let job: StreamJob = serde_json::from_value(job_json("watched", 1, 4, "15m")).unwrap();
        jobs.create(&PostParams::default(), &job).await.unwrap();
    }
    let ctx = std::sync::Arc::new(Context::new(
        client.clone(),
        WorkerClient::new().unwrap(),
        Metrics::new(),
        Leadership::always(),
        "watch-namespaces".into(),
    ));
    let scope = Scope::from_list(&[a.as_str(), b.as_str()]);
    let operator = tokio::spawn(async move {
        sluice_operator::controller::run(ctx, scope).await;
    });
    let observed = |ns: &str| {
        let jobs: Api<StreamJob> = Api::namespaced(client.clone(), ns);
        async move {
            let job = jobs.get("watched").await.unwrap();
            job.status.and_then(|s| s.observed_generation)
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while observed(&a).await.is_none() || observed(&b).await.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the jobs of the watched namespaces {a} and {b} got no status"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // Both watched jobs were reconciled; a reconcile of the third would have come as soon (same controller
    // start, same kind of job), so a few more seconds without one show it is not watched.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(observed(&other).await, None, "{other} is not watched");
    operator.abort();
}

/// The CA Secret exists, the job's certificate Secret is the job's (owned, `kubernetes.io/tls`, issued by
/// that CA for this job's worker names only), and every pod serves it and probes over HTTPS.
async fn control_tls_in_place(secrets: &Api<Secret>, pods: &[Pod], ns: &str, uid: &str) {
    use sluice_operator::control_tls::{ca::ControlCa, ca::now_unix, leaf::verifies};
    let bytes = |s: &Secret| -> std::collections::BTreeMap<String, Vec<u8>> {
        s.data
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect()
    };
    let ca = ControlCa::from_data(&bytes(&secrets.get("control-ca").await.unwrap())).unwrap();
    let tls = secrets.get("fraud-control-tls").await.unwrap();
    assert_eq!(tls.type_.as_deref(), Some("kubernetes.io/tls"));
    assert!(tls.owner_references().iter().any(|o| o.uid == uid));
    assert_eq!(
        tls.annotations().get("sluice.dev/control-ca"),
        Some(&ca.id())
    );
    let data = bytes(&tls);
    let cert = String::from_utf8(data["tls.crt"].clone()).unwrap();
    let bundle = String::from_utf8(data["ca.crt"].clone()).unwrap();
    assert_eq!(bundle, ca.trust_bundle(now_unix()));
    assert!(verifies(&cert, &bundle, ns, "fraud", now_unix()));
    assert!(!verifies(&cert, &bundle, ns, "other-job", now_unix()));
    for p in pods {
        let spec = p.spec.as_ref().unwrap();
        let volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == "control-tls")
            .unwrap();
        let from = volume.secret.as_ref().unwrap().secret_name.as_deref();
        assert_eq!(from, Some("fraud-control-tls"));
        let c = &spec.containers[0];
        let env = c.env.clone().unwrap_or_default();
        assert!(env.iter().any(|e| e.name == "SLUICE_CONTROL_TLS_CERT_FILE"));
        for probe in [&c.readiness_probe, &c.liveness_probe] {
            let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
            assert_eq!(get.scheme.as_deref(), Some("HTTPS"));
        }
    }
}
