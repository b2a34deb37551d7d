#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real node (containerd + runc + CNI bridge, kubelet, kube-proxy, kube-scheduler and
//! kube-controller-manager, images from the local registry) runs pods as a production cluster does:
//! - a pod in a namespace that enforces the `restricted` Pod Security level is scheduled, gets an address on
//!   the bridge, pulls its image through the registry, reaches the API server through the `kubernetes`
//!   Service's ClusterIP with its projected ServiceAccount token, and reaches the bridge's host address;
//! - a privileged pod is rejected at admission there, naming the violated rule;
//! - an image that does not exist surfaces as ErrImagePull/ImagePullBackOff, not as a silent wait;
//! - `helm install --wait` of the chart, with the operator image built by scripts/build-images.sh and pulled
//!   from the registry through the chart's ordinary `image.repository`/`image.tag`, succeeds in a namespace
//!   that enforces `restricted`: both operator pods Ready (their `/readyz`), one of them holding the Lease;
//! - the Argo CD command of the release NOTES, run as printed, merges the chart's health check and actions
//!   into an existing `argocd-cm` byte for byte, keeping its other keys;
//! - least privilege, asked of the API server with `kubectl auth can-i --as` the operator's ServiceAccount:
//!   every verb the operator uses is granted, and Secrets `list`/`watch`, Leases outside its namespace, nodes,
//!   `pods/exec`, deleting StreamJobs are not; the namespaced RBAC rendered for two watched namespaces grants
//!   them and nothing in a third;
//! - the committed example StreamJob (localized: [`sluice_testbed::example`]) runs on worker pods the operator
//!   creates there, in a restricted namespace, against Kafka and S3 on the bridge address, under load from
//!   `sluice produce`; `sluice verify`'s checks find every decision exactly once;
//! - what Kubernetes will not run becomes the StreamJob's `Degraded` condition and an Event naming the pod and
//!   Kubernetes' reason: a pod refused by a ResourceQuota (`PodRejected`), an image that does not exist
//!   (`ErrImagePull`/`ImagePullBackOff`), a worker that exits at start (the exit and the worker's own fatal
//!   error, from its termination message, in `WorkerRestarted` Events and the condition);
//! - `kubectl drain` under load stops at the job's PodDisruptionBudget (one worker at a time); the evicted
//!   worker is recreated without counting a restart; then `kubectl scale` to 2 workers (a savepoint
//!   upgrade on real pods; 13 workers over 12 partitions are refused at admission); suspend (a savepoint,
//!   no pods) and resume from it; a new model in the job's ConfigMap (a savepoint upgrade; `verify` with
//!   both models finds each partition switching once); an upgrade to an image tag the registry lacks,
//!   rolled back to the last stable spec from its savepoint; the output, malformed records in the DLQ
//!   included, stays exactly-once through all of them;
//! - faults of a node under that load: a worker process SIGKILLed, the kubelet killed and restarted, a worker
//!   pod force-deleted, the operator dying after each step of the rescale (crash points in its pods) and its
//!   leader pod force-deleted during the model upgrade; a worker OOM-killed under a 32 MiB limit is reported
//!   as `OOMKilled` in the StreamJob's condition and Events;
//! - the autoscaler on a lag burst (the operator scraping worker pods over the bridge) and a broker restart
//!   and an S3 outage under load, on real pods (`kube_node/lag_and_outages.rs`);
//! - stopping the node leaves no mount, bridge or pod process behind.
//!
//! One test function: the bridge and the kubelet's cgroups are machine-wide, so one node runs at a time.

mod common;
#[path = "kube_node/lag_and_outages.rs"]
mod lag_and_outages;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sluice_cli::verify::verify_models;
use sluice_core::model::FRAUD_V1_YAML;
use sluice_generator::GeneratorConfig;
use sluice_testbed::cache::{repo_root, run_root};
use sluice_testbed::example::{
    EXAMPLE_YAML, Localization, STATE_KEYS_SECRET, example_node_labels, example_state_key,
    localize, start_example_load,
};
use sluice_testbed::helm::ensure_helm;
use sluice_testbed::job_harness::JobHarness;
use sluice_testbed::services::node::RealCluster;
use sluice_testbed::services::node::images::{push_sluice_images, push_static_image};
use sluice_testbed::services::node::kubelet::NODE_NAME;
use sluice_testbed::services::node::network::HOST_IP;
use sluice_testbed::testbed::{S3_ACCESS_KEY, S3_SECRET_KEY, bucket_objects, s3_client};
use sluice_testbed::unique_name;
use sluice_testbed::{KafkaBroker, S3Server};

use common::model_upgrade::{assert_each_partition_switched_once, model_v2_yaml};
use common::operators::{UPGRADE_STEPS, crash_after_each_step};
use sluice_crds::crash_point::ENV as CRASH_ENV;
use sluice_operator::crash_point::persisted;

/// Marks a step of the scenario on stderr (captured by the harness, shown when the test fails), so a
/// failure's place in a 9-minute scenario is known from the CI log alone.
fn step(what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(Instant::now);
    eprintln!("[kube_node +{:>4}s] {what}", start.elapsed().as_secs());
}

fn kubectl(cluster: &RealCluster, args: &[&str]) -> std::process::Output {
    let mut cmd = cluster.cluster().kubectl();
    cmd.args(args).output().unwrap()
}

fn kubectl_ok(cluster: &RealCluster, args: &[&str]) -> String {
    let out = kubectl(cluster, args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn apply(cluster: &RealCluster, namespace: &str, yaml: &str) -> std::process::Output {
    let path = cluster
        .node_dir()
        .join(format!("{}.yaml", unique_name("manifest")));
    std::fs::write(&path, yaml).unwrap();
    kubectl(
        cluster,
        &["-n", namespace, "apply", "-f", path.to_str().unwrap()],
    )
}

/// Polls `jsonpath` of `object` until `done` accepts it; panics with `kubectl describe` after `timeout`.
fn wait_for(
    cluster: &RealCluster,
    namespace: &str,
    object: &str,
    jsonpath: &str,
    timeout: Duration,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let out = kubectl(
            cluster,
            &[
                "-n",
                namespace,
                "get",
                object,
                "-o",
                &format!("jsonpath={jsonpath}"),
            ],
        );
        let value = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && done(&value) {
            return value;
        }
        if Instant::now() > deadline {
            let describe = kubectl(cluster, &["-n", namespace, "describe", object]);
            let around = kubectl(
                cluster,
                &["-n", namespace, "get", "pods,events", "-o", "wide"],
            );
            panic!(
                "{object}: {jsonpath} still {value:?} after {timeout:?}\n{}\n{}\noperator logs:\n{}",
                String::from_utf8_lossy(&describe.stdout),
                String::from_utf8_lossy(&around.stdout),
                operator_logs(cluster),
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The last log lines of every operator pod (wherever the chart was installed), for failure messages.
fn operator_logs(cluster: &RealCluster) -> String {
    let selector = "app.kubernetes.io/name=sluice-operator";
    let pods = kubectl(
        cluster,
        &[
            "get",
            "pods",
            "-A",
            "-l",
            selector,
            "-o",
            "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}",
        ],
    );
    let mut text = String::new();
    for pod in String::from_utf8_lossy(&pods.stdout).split_whitespace() {
        let Some((ns, name)) = pod.split_once('/') else {
            continue;
        };
        let out = kubectl(cluster, &["-n", ns, "logs", name, "--tail=30"]);
        text.push_str(&format!(
            "--- {pod}\n{}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    text
}

fn restricted_pod(name: &str, image: &str, args: &[&str]) -> String {
    let args = serde_json::to_string(args).unwrap();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  \
         securityContext: {{runAsNonRoot: true, seccompProfile: {{type: RuntimeDefault}}}}\n  containers:\n  \
         - name: main\n    image: {image}\n    args: {args}\n    securityContext:\n      \
         allowPrivilegeEscalation: false\n      readOnlyRootFilesystem: true\n      \
         capabilities: {{drop: [ALL]}}\n"
    )
}

#[test]
fn a_real_node_runs_restricted_pods_and_the_helm_chart() {
    let dir = run_root().join(unique_name("node"));
    step("starting the real node");
    let mut cluster =
        RealCluster::start(&dir).unwrap_or_else(|e| panic!("starting the real node: {e}"));
    step("restricted pods");
    restricted_pods(&cluster);
    step("helm install");
    let (worker_image, operator_ns) = helm_install(&cluster);
    step("the example job");
    example_job(&mut cluster, &worker_image, &operator_ns);
    step("troubled jobs");
    troubled_jobs(&cluster, &worker_image);
    step("stopping the node");

    let node_dir = cluster.node_dir();
    drop(cluster);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !std::path::Path::new("/sys/class/net/sluice0").exists(),
        "the bridge is still there"
    );
    for prefix in [dir.display().to_string(), node_dir.display().to_string()] {
        assert!(!mounts.contains(&prefix), "mounts left under {prefix}");
        let left = Command::new("pgrep")
            .args(["-f", &prefix])
            .output()
            .unwrap();
        assert!(
            left.stdout.is_empty(),
            "processes left: {}",
            String::from_utf8_lossy(&left.stdout)
        );
    }
    assert!(!node_dir.exists(), "{} is still there", node_dir.display());
}

/// A restricted namespace whose `default` ServiceAccount exists (pods are rejected until the
/// controller-manager has created it).
fn restricted_namespace(cluster: &RealCluster, prefix: &str) -> String {
    let ns = unique_name(prefix);
    kubectl_ok(cluster, &["create", "namespace", &ns]);
    let label = "pod-security.kubernetes.io/enforce=restricted";
    kubectl_ok(cluster, &["label", "namespace", &ns, label]);
    let sa = "serviceaccount/default";
    wait_for(
        cluster,
        &ns,
        sa,
        "{.metadata.name}",
        Duration::from_secs(60),
        |v| v == "default",
    );
    ns
}

fn restricted_pods(cluster: &RealCluster) {
    let registry = cluster.registry().unwrap();
    let netcheck = push_static_image(
        &cluster.node_dir(),
        registry,
        "netcheck",
        "sluice-testbed/netcheck",
        "65532:65532",
    )
    .unwrap();
    let ns = restricted_namespace(cluster, "restricted");

    let registry_addr = cluster.registry_host();
    apply_ok(
        cluster,
        &ns,
        &restricted_pod("netcheck", &netcheck, &[&registry_addr]),
    );
    let finished = |p: &str| p == "Succeeded" || p == "Failed";
    let phase = wait_for(
        cluster,
        &ns,
        "pod/netcheck",
        "{.status.phase}",
        Duration::from_secs(120),
        finished,
    );
    let logs = kubectl_ok(cluster, &["-n", &ns, "logs", "netcheck"]);
    assert_eq!(phase, "Succeeded", "netcheck output:\n{logs}");
    assert!(
        logs.contains("ok   api server via the kubernetes Service"),
        "{logs}"
    );
    assert!(
        logs.contains(&format!("ok   tcp {registry_addr}")),
        "{logs}"
    );
    let ip = kubectl_ok(
        cluster,
        &[
            "-n",
            &ns,
            "get",
            "pod/netcheck",
            "-o",
            "jsonpath={.status.podIP}",
        ],
    );
    assert!(
        ip.starts_with("10.213.0."),
        "pod IP {ip} is not on the bridge"
    );
    assert_ne!(ip, HOST_IP.to_string());

    let privileged = restricted_pod("privileged", &netcheck, &[]).replace(
        "allowPrivilegeEscalation: false",
        "privileged: true\n      allowPrivilegeEscalation: true",
    );
    let out = apply(cluster, &ns, &privileged);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a privileged pod was admitted");
    assert!(
        stderr.contains("violates PodSecurity \"restricted"),
        "{stderr}"
    );

    let missing = format!("{registry_addr}/sluice-testbed/missing:1");
    apply_ok(
        cluster,
        &ns,
        &restricted_pod("missing-image", &missing, &[]),
    );
    let reason = "{.status.containerStatuses[0].state.waiting.reason}";
    wait_for(
        cluster,
        &ns,
        "pod/missing-image",
        reason,
        Duration::from_secs(90),
        |r| r == "ErrImagePull" || r == "ImagePullBackOff",
    );
}

/// Installs the chart; returns the worker image reference pushed beside the operator's.
/// Installs the chart; returns the worker image and the operator's namespace.
fn helm_install(cluster: &RealCluster) -> (String, String) {
    let registry = cluster.registry().unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), std::path::PathBuf::from);
    let out_dir = cluster.node_dir().join("images");
    let images = push_sluice_images(&target.join("debug"), &out_dir, "testbed", registry)
        .unwrap_or_else(|e| panic!("building and pushing the images: {e}"));
    let (repository, tag) = images.operator.rsplit_once(':').unwrap();
    let (repository, tag) = (repository.to_string(), tag.to_string());

    let ns = restricted_namespace(cluster, "sluice-system");
    let argo_ns = restricted_namespace(cluster, "argocd");
    let chart = repo_root().join("charts").join("sluice-operator");
    let out = Command::new(ensure_helm().unwrap())
        .arg("install")
        .arg("sluice")
        .arg(&chart)
        .arg("--kubeconfig")
        .arg(cluster.cluster().kubeconfig_path())
        .args(["--namespace", &ns, "--wait", "--timeout", "4m"])
        .args(["--set", &format!("image.repository={repository}")])
        .args(["--set", &format!("image.tag={tag}")])
        .args(["--set", "argocd.customizations.enabled=true"])
        // Its own crate at trace: the secret scan after the example's lifecycle reads these logs.
        .args(["--set", "operator.logLevel=info\\,sluice_operator=trace"])
        .args([
            "--set",
            &format!("argocd.customizations.namespace={argo_ns}"),
        ])
        .output()
        .unwrap();
    if !out.status.success() {
        let pods = kubectl(cluster, &["-n", &ns, "describe", "pods"]);
        panic!(
            "helm install failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&pods.stdout)
        );
    }
    let ready = "jsonpath={.items[0].status.readyReplicas}";
    let ready = kubectl_ok(cluster, &["-n", &ns, "get", "deployment", "-o", ready]);
    assert_eq!(
        ready, "2",
        "both operator replicas Ready (the standby serves /readyz too)"
    );
    let holder = "{.spec.holderIdentity}";
    let holder = wait_for(
        cluster,
        &ns,
        "lease/sluice-operator",
        holder,
        Duration::from_secs(60),
        |h| !h.is_empty(),
    );
    let names = "jsonpath={.items[*].metadata.name}";
    let pods = kubectl_ok(cluster, &["-n", &ns, "get", "pods", "-o", names]);
    assert!(
        pods.split(' ').any(|p| p == holder),
        "Lease holder {holder} is not one of {pods}"
    );
    argocd_patch_from_notes(cluster, &ns, &argo_ns);
    least_privilege(cluster, &ns, &argo_ns);
    (images.worker, ns)
}

/// `kubectl auth can-i --as` each verb the operator needs and some it must not have, against the chart's RBAC
/// as installed (cluster scope) and as rendered for `rbac.scope=namespaced` with two watched namespaces.
fn least_privilege(cluster: &RealCluster, operator_ns: &str, other_ns: &str) {
    let can = |sa: &str, ns: Option<&str>, verb: &str, resource: &str| -> bool {
        let who = format!("--as=system:serviceaccount:{operator_ns}:{sa}");
        // `pods/exec` to can-i is a pod *named* exec: a subresource goes in `--subresource`.
        let (resource, sub) = match resource.split_once('/') {
            Some((r, sub)) => (r, Some(sub)),
            None => (resource, None),
        };
        let mut args = vec!["auth", "can-i", verb, resource, who.as_str()];
        if let Some(sub) = sub {
            args.extend(["--subresource", sub]);
        }
        match ns {
            Some(ns) => args.extend(["-n", ns]),
            None => args.push("--all-namespaces"),
        }
        // `can-i` prints yes/no and exits 1 for "no".
        String::from_utf8_lossy(&kubectl(cluster, &args).stdout).trim() == "yes"
    };
    let sa = "sluice-sluice-operator";
    let (here, there) = (Some(operator_ns), Some(other_ns));
    let granted = [
        (None, "watch", "streamjobs.sluice.dev"),
        (there, "patch", "streamjobs.sluice.dev/status"),
        (there, "create", "pods"),
        (there, "delete", "pods"),
        (there, "patch", "persistentvolumeclaims"),
        (there, "create", "poddisruptionbudgets.policy"),
        (there, "get", "secrets"),
        // The job control certificate Secrets (server-side apply), and the control CA Secret at home.
        (there, "patch", "secrets"),
        (here, "create", "secrets"),
        (None, "watch", "configmaps"),
        (there, "create", "events.events.k8s.io"),
        (here, "update", "leases.coordination.k8s.io"),
    ];
    for (ns, verb, resource) in granted {
        assert!(
            can(sa, ns, verb, resource),
            "cannot {verb} {resource} in {ns:?}"
        );
    }
    let refused = [
        (there, "list", "secrets"),
        (None, "watch", "secrets"),
        (there, "delete", "secrets"),
        // Updates only the control CA Secret, by name.
        (here, "update", "secrets"),
        (there, "delete", "streamjobs.sluice.dev"),
        (there, "update", "leases.coordination.k8s.io"),
        (there, "create", "deployments.apps"),
        (None, "get", "nodes"),
        (None, "create", "clusterroles.rbac.authorization.k8s.io"),
        (there, "create", "pods/exec"),
    ];
    for (ns, verb, resource) in refused {
        assert!(
            !can(sa, ns, verb, resource),
            "may {verb} {resource} in {ns:?}"
        );
    }

    // Namespaced mode, two watched namespaces: only the RBAC and the ServiceAccount are applied (a second
    // operator is not needed to ask the API server what it may do).
    let (a, b) = (unique_name("payments"), unique_name("risk"));
    for ns in [&a, &b] {
        kubectl_ok(cluster, &["create", "namespace", ns]);
    }
    let rendered = Command::new(ensure_helm().unwrap())
        .args([
            "template",
            "scoped",
            "-n",
            operator_ns,
            "--kube-version",
            "1.34.0",
        ])
        .arg(repo_root().join("charts").join("sluice-operator"))
        .args(["--set", "rbac.scope=namespaced"])
        .args(["--set", &format!("watchNamespaces={{{a},{b}}}")])
        .args(["--show-only", "templates/rbac.yaml"])
        .args(["--show-only", "templates/serviceaccount.yaml"])
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    // The objects name their namespaces (the operator's and each watched one): applied without `-n`.
    let manifest = cluster.node_dir().join(unique_name("scoped-rbac.yaml"));
    std::fs::write(&manifest, &rendered.stdout).unwrap();
    kubectl_ok(cluster, &["apply", "-f", manifest.to_str().unwrap()]);
    let sa = "scoped-sluice-operator";
    for ns in [a.as_str(), b.as_str()] {
        assert!(
            can(sa, Some(ns), "create", "pods"),
            "cannot create pods in {ns}"
        );
        assert!(can(sa, Some(ns), "watch", "streamjobs.sluice.dev"));
        assert!(can(sa, Some(ns), "get", "secrets"));
        assert!(!can(sa, Some(ns), "list", "secrets"));
    }
    assert!(
        !can(sa, there, "create", "pods"),
        "namespaced RBAC reaches {other_ns}"
    );
    assert!(!can(sa, there, "get", "secrets"));
    assert!(!can(sa, None, "watch", "streamjobs.sluice.dev"));
    assert!(can(sa, here, "update", "leases.coordination.k8s.io"));
}

/// Runs the Argo CD command of the release's NOTES exactly as printed, against an argocd-cm that already holds
/// a setting of its own: afterwards argocd-cm has the chart's health check and actions, byte for byte the
/// chart's files, and keeps its own setting.
fn argocd_patch_from_notes(cluster: &RealCluster, operator_ns: &str, argo_ns: &str) {
    let own = "--from-literal=url=https://argocd.example";
    kubectl_ok(
        cluster,
        &["-n", argo_ns, "create", "configmap", "argocd-cm", own],
    );
    let kubeconfig = cluster.cluster().kubeconfig_path();
    let notes = Command::new(ensure_helm().unwrap())
        .args(["get", "notes", "sluice", "-n", operator_ns])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .output()
        .unwrap();
    let notes = String::from_utf8_lossy(&notes.stdout).into_owned();
    let command: String = notes
        .lines()
        .skip_while(|l| !l.starts_with("Argo CD: merge"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        command.contains("patch configmap argocd-cm"),
        "NOTES:\n{notes}"
    );
    let kubectl = cluster.cluster().kubectl();
    let bin_dir = std::path::Path::new(kubectl.get_program())
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .args(["-c", &command])
        .env("KUBECONFIG", kubeconfig)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the NOTES command failed: {command}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = |ns: &str, name: &str| -> serde_json::Value {
        let json = kubectl_ok(cluster, &["-n", ns, "get", "configmap", name, "-o", "json"]);
        serde_json::from_str::<serde_json::Value>(&json).unwrap()["data"].clone()
    };
    let merged = data(argo_ns, "argocd-cm");
    assert_eq!(merged["url"], "https://argocd.example", "{merged}");
    let health = "resource.customizations.health.sluice.dev_StreamJob";
    let files = repo_root().join("charts/sluice-operator/files/argocd");
    let health_lua = std::fs::read_to_string(files.join("health.lua")).unwrap();
    assert_eq!(merged[health].as_str(), Some(health_lua.as_str()));
    let actions = "resource.customizations.actions.sluice.dev_StreamJob";
    let chart_cm = data(operator_ns, "sluice-sluice-operator-argocd-customizations");
    assert_eq!(merged[actions], chart_cm[actions]);
    let restart_lua = std::fs::read_to_string(files.join("actions/restart/action.lua")).unwrap();
    let first_line = restart_lua.lines().next().unwrap();
    assert!(
        merged[actions].as_str().unwrap().contains(first_line),
        "{merged}"
    );
}

fn example_job(cluster: &mut RealCluster, worker_image: &str, operator_ns: &str) {
    let started = Instant::now();
    let dir = run_root().join(unique_name("node-example"));
    // Pods reach Kafka and S3 on the bridge's host address.
    let mut kafka = KafkaBroker::start_on(&dir.join("kafka"), HOST_IP).unwrap();
    let mut s3 = S3Server::start_on(&dir.join("s3"), HOST_IP).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = unique_name("node-ckpt");
    rt.block_on(
        s3_client(&s3.endpoint())
            .create_bucket()
            .bucket(&bucket)
            .send(),
    )
    .unwrap();
    let example: serde_norway::Value = serde_norway::from_str(EXAMPLE_YAML).unwrap();
    let partitions = example["spec"]["partitions"].as_i64().unwrap() as i32;
    let parallelism = example["spec"]["parallelism"].as_i64().unwrap();
    let name = example["metadata"]["name"].as_str().unwrap();
    let mut h = JobHarness::new(&kafka.bootstrap(), &dir.join("job"), partitions, "").unwrap();
    h.with_store(&format!("s3://{bucket}/store"), Some(&s3.endpoint()));

    let ns = example_namespace(cluster, "fraud", &h.token, FRAUD_V1_YAML);
    // The example pins its workers to a node pool: this node is that pool.
    for label in example_node_labels() {
        kubectl_ok(
            cluster,
            &["label", "node", NODE_NAME, &label, "--overwrite"],
        );
    }
    let bootstrap = kafka.bootstrap();
    let endpoint = s3.endpoint();
    let local = Localization {
        name,
        namespace: &ns,
        image: worker_image,
        job: &h.job,
        bootstrap: &bootstrap,
        bucket: &bucket,
        s3_endpoint: &endpoint,
    };
    apply_ok(
        cluster,
        &ns,
        &serde_norway::to_string(&localize(&local)).unwrap(),
    );

    // 60 s of load: it runs through the drain, the rescale and the suspension.
    let authorizations = 24_000;
    let mut producer =
        start_example_load(&bootstrap, &h.job, partitions, authorizations, &dir).unwrap();

    let sj = format!("streamjob/{name}");
    let steady = "{.status.lifecycleState}/{.status.parallelism}";
    let running =
        |v: &str| v == format!("RUNNING/{parallelism}") || v == format!("STABLE/{parallelism}");
    wait_for(cluster, &ns, &sj, steady, Duration::from_secs(300), running);
    // The example asks for JSON logs (`spec.logging.format`): what a log shipper reads from the node.
    let pod = format!("{name}-worker-0");
    let logs = kubectl_ok(cluster, &["-n", &ns, "logs", &pod, "--tail=20"]);
    assert!(!logs.trim().is_empty(), "worker-0 logged nothing");
    for line in logs.lines() {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(
            parsed.is_ok_and(|v| v["level"].is_string()),
            "not a JSON log line: {line}"
        );
    }
    step("control TLS on the node");
    control_tls_on_the_node(cluster, &ns, name, operator_ns);
    step("drain under load");
    drain_under_load(cluster, &ns, name);
    wait_for(cluster, &ns, &sj, steady, Duration::from_secs(300), running);
    step("node faults");
    node_faults(cluster, &ns, name);
    wait_for(cluster, &ns, &sj, steady, Duration::from_secs(300), running);
    // `kubectl scale` through the StreamJob's /scale subresource: a savepoint upgrade to 2 workers, each
    // taking over 6 partitions with their state from the savepoint. The operator's leader is killed in
    // the middle of it; the standby takes the Lease and finishes the upgrade from the persisted step.
    // The operator leader dies right after persisting each step (crash points, armed in the operator pods),
    // so the other replica, or the same one restarted, carries on from every step.
    step("rescale to 2 with the operator leader dying after each step");
    let deployment = arm_operator_crash_points(cluster, operator_ns);
    kubectl_ok(cluster, &["-n", &ns, "scale", &sj, "--replicas=2"]);
    let scaled = |v: &str| v == "RUNNING/2" || v == "STABLE/2";
    let leader_deaths = deaths_until(cluster, operator_ns, || {
        scaled(&kubectl_jsonpath(cluster, &ns, &sj, steady))
    });
    let died_at: BTreeSet<&str> = leader_deaths.iter().map(String::as_str).collect();
    assert_eq!(
        died_at,
        UPGRADE_STEPS.into_iter().collect::<BTreeSet<_>>(),
        "the leader must die after each upgrade step: {leader_deaths:?}\n{}\n{}",
        operator_deaths_report(cluster, operator_ns),
        operator_logs(cluster)
    );
    kubectl_ok(
        cluster,
        &[
            "-n",
            operator_ns,
            "set",
            "env",
            &deployment,
            &format!("{CRASH_ENV}-"),
        ],
    );
    rollout(cluster, operator_ns, &deployment);
    wait_for(cluster, &ns, &sj, steady, Duration::from_secs(300), scaled);
    let pods = kubectl_jsonpath(cluster, &ns, "pods", "{.items[*].metadata.name}");
    assert_eq!(
        pods,
        format!("{name}-worker-0 {name}-worker-1"),
        "after the rescale"
    );
    // The savepoint is in the status history. (Its `SavepointCompleted` Event is published after that status
    // is written, so the leader that died right after writing it never published it: Events are at most
    // once, the status is the record.)
    let upgrade_savepoint = "{.status.savepoints[-1:].trigger} {.status.savepoints[-1:].location}";
    let last = kubectl_jsonpath(cluster, &ns, &sj, upgrade_savepoint);
    assert!(
        last.starts_with(&format!("upgrade s3://{bucket}/")),
        "the rescale's savepoint: {last:?}"
    );
    // More workers than partitions is refused at admission (CEL), naming the rule; nothing changes.
    let refused = kubectl(cluster, &["-n", &ns, "scale", &sj, "--replicas=13"]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "13 workers over 12 partitions");
    assert!(
        said.contains("parallelism must not exceed partitions"),
        "{said}"
    );
    step("suspend and resume");
    suspend_and_resume(cluster, &ns, name, &bucket);
    wait_for(cluster, &ns, &sj, steady, Duration::from_secs(300), scaled);
    let status = producer
        .wait_exit(Duration::from_secs(300))
        .expect("sluice produce finished");
    assert!(status.success(), "{}", producer.log_tail(20));
    wait_consumed(&h);

    // A new model in the job's ConfigMap: a savepoint upgrade; then a second batch (a day later in event
    // time), so every partition has records scored by each model.
    let v2 = model_v2_yaml();
    let data = serde_json::json!({"data": {"model.yaml": v2}}).to_string();
    let cm = "configmap/fraud-model";
    kubectl_ok(
        cluster,
        &["-n", &ns, "patch", cm, "--type=merge", "-p", &data],
    );
    step("a new model, the leader pod force-deleted while deploying");
    let model_step = kill_leader_during(cluster, operator_ns, &ns, &sj, &["deploying"]);
    let last_savepoint = "{.status.savepoints[-1:].trigger}";
    wait_for(
        cluster,
        &ns,
        &sj,
        last_savepoint,
        Duration::from_secs(180),
        |t| t == "upgrade",
    );
    wait_for(cluster, &ns, &sj, steady, Duration::from_secs(300), scaled);
    step("a missing image tag rolled back");
    bad_tag_rolled_back(cluster, &ns, name, worker_image);
    let second = GeneratorConfig {
        seed: 12,
        cards: 1_500,
        partitions: partitions as u32,
        authorizations: 2_000,
        start_time_ms: GeneratorConfig::default().start_time_ms + 86_400_000,
        ..GeneratorConfig::default()
    };
    sluice_cli::produce::produce(&bootstrap, &h.job.topics, second, 0, |_| {}).unwrap();
    wait_consumed(&h);
    let models = [FRAUD_V1_YAML.to_string(), v2.clone()];
    let report = verify_models(&bootstrap, &h.job, &models).unwrap();
    assert!(report.ok(), "{report:#?}");
    assert!(report.actual_decisions >= 25_900, "{report:#?}");
    assert_eq!(report.unprocessed_records, 0, "{report:#?}");
    assert!(
        report.actual_dlq > 0,
        "no malformed record reached the DLQ: {report:#?}"
    );
    assert_each_partition_switched_once(&report, partitions as usize);
    let events = format!(
        "{parallelism} worker pods over {partitions} partitions, 400 records/s, drained, a worker SIGKILLed, the kubelet restarted, a worker pod force-deleted, scaled to 2 (the operator leader died {} times, after each upgrade step: {}) and a new model (the leader pod force-deleted at step {model_step}), suspended and resumed, a missing image tag rolled back",
        leader_deaths.len(),
        leader_deaths.join(", ")
    );
    let scenario = "1r. the example on the real node (helm, apply, drain, node faults, scale, suspend, model, rollback)";
    let kills = 4 + u32::try_from(leader_deaths.len()).unwrap();
    common::report::record(scenario, events, kills, Some(&report), started);
    step("no secret anywhere");
    no_secret_anywhere(cluster, &ns, operator_ns, name, &h.token);
    step("delete with a final savepoint");

    // Deleting the StreamJob takes the example's final savepoint (deletion.finalSavepoint) into the
    // store, then the pods go.
    kubectl_ok(
        cluster,
        &["-n", &ns, "delete", &sj, "--wait", "--timeout=180s"],
    );
    assert_event(cluster, &ns, "FinalSavepoint", &format!("s3://{bucket}/"));
    wait_pods_gone(cluster, &ns);
    assert_store_sealed(&rt, &endpoint, &bucket);
    oom_killed(cluster, worker_image, &bootstrap, &endpoint, &bucket, &dir);
    pod_template_job(cluster, worker_image, &bootstrap, &endpoint, &bucket, &dir);
    let services = lag_and_outages::Services {
        kafka: &mut kafka,
        s3: &mut s3,
        bucket: &bucket,
    };
    lag_and_outages::autoscaler_and_outages(cluster, worker_image, services, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A worker with a backlog to process and a 32 MiB memory limit: the kernel's OOM killer ends it, and the
/// StreamJob says so (`OOMKilled (exit code 137)` in its `Degraded` condition and `WorkerRestarted` Events).
/// Its own topics on the same broker; nothing of it reaches the example's topics.
fn oom_killed(
    cluster: &RealCluster,
    worker_image: &str,
    bootstrap: &str,
    s3_endpoint: &str,
    bucket: &str,
    dir: &std::path::Path,
) {
    let h = JobHarness::new(bootstrap, &dir.join("oom"), 2, "").unwrap();
    let backlog = GeneratorConfig {
        seed: 13,
        cards: 5_000,
        partitions: 2,
        authorizations: 20_000,
        ..GeneratorConfig::default()
    };
    sluice_cli::produce::produce(bootstrap, &h.job.topics, backlog, 0, |_| {}).unwrap();
    let ns = example_namespace(cluster, "oom", &h.token, FRAUD_V1_YAML);
    let local = Localization {
        name: "fraud",
        namespace: &ns,
        image: worker_image,
        job: &h.job,
        bootstrap,
        bucket,
        s3_endpoint,
    };
    let mut doc = localize(&local);
    doc["spec"]["parallelism"] = 1.into();
    doc["spec"]["partitions"] = 2.into();
    let memory = serde_json::json!({"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"memory": "32Mi"}});
    doc["spec"]["resources"] = serde_norway::to_value(memory).unwrap();
    // Nothing to save of a worker that never gets far.
    doc["spec"]["deletion"]["finalSavepoint"] = false.into();
    apply_ok(cluster, &ns, &serde_norway::to_string(&doc).unwrap());
    let killed = ["OOMKilled", "CrashLoopBackOff"];
    let needles = ["pod fraud-worker-0", "OOMKilled (exit code 137)"];
    wait_degraded(cluster, &ns, &killed, Duration::from_secs(180), &needles);
    assert_event(cluster, &ns, "WorkerRestarted", "OOMKilled (exit code 137)");
    kubectl_ok(
        cluster,
        &["-n", &ns, "delete", "streamjob/fraud", "--timeout=60s"],
    );
    wait_pods_gone(cluster, &ns);
}

/// `spec.podTemplate` on a real node, in a `restricted` namespace: a plain sidecar and a native one (the pause
/// image, neither with a security context), env from a ConfigMap and a scratch volume. The merged pod is
/// admitted and runs; a template change is a savepoint upgrade that completes although the plain sidecar
/// keeps the pod Running after the worker exited; a redeploy from that upgrade's savepoint; a template that
/// sets the worker's command is refused with that field while the running pod stays as it is.
fn pod_template_job(
    cluster: &RealCluster,
    worker_image: &str,
    bootstrap: &str,
    s3_endpoint: &str,
    bucket: &str,
    dir: &std::path::Path,
) {
    let h = JobHarness::new(bootstrap, &dir.join("template"), 2, "").unwrap();
    let ns = example_namespace(cluster, "template", &h.token, FRAUD_V1_YAML);
    let team = "--from-literal=TEAM=payments-risk";
    kubectl_ok(
        cluster,
        &["-n", &ns, "create", "configmap", "extra-env", team],
    );
    let local = Localization {
        name: "fraud",
        namespace: &ns,
        image: worker_image,
        job: &h.job,
        bootstrap,
        bucket,
        s3_endpoint,
    };
    let pause = cluster.pause_image();
    let job = |note: &str, command: Option<&str>| {
        let mut worker = serde_json::json!({
            "name": "worker",
            "env": [{"name": "TEMPLATE_NOTE", "value": note}],
            "envFrom": [{"configMapRef": {"name": "extra-env"}}],
            "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
        });
        if let Some(command) = command {
            worker["command"] = serde_json::json!([command]);
        }
        let spec = serde_json::json!({
            "containers": [worker, {"name": "idle", "image": pause}],
            "initContainers": [{"name": "native-idle", "image": pause, "restartPolicy": "Always"}],
            "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "16Mi"}}],
        });
        let mut doc = localize(&local);
        doc["spec"]["parallelism"] = 1.into();
        doc["spec"]["partitions"] = 2.into();
        doc["spec"]["deletion"]["finalSavepoint"] = false.into();
        doc["spec"]["podTemplate"]["spec"] = serde_norway::to_value(spec).unwrap();
        serde_norway::to_string(&doc).unwrap()
    };
    let sj = "streamjob/fraud";
    let steady = "{.status.lifecycleState}/{.status.parallelism}";
    let running = |v: &str| v == "RUNNING/1" || v == "STABLE/1";
    let pod = "pod/fraud-worker-0";
    let note = "{.spec.containers[?(@.name==\"worker\")].env[?(@.name==\"TEMPLATE_NOTE\")].value}";

    apply_ok(cluster, &ns, &job("v1", None));
    wait_for(cluster, &ns, sj, steady, Duration::from_secs(300), running);
    let names = "{.spec.containers[*].name}/{.spec.initContainers[*].name}";
    assert_eq!(
        kubectl_jsonpath(cluster, &ns, pod, names),
        "worker idle/native-idle"
    );
    let started =
        "{.status.containerStatuses[*].started}/{.status.initContainerStatuses[*].started}";
    assert_eq!(
        kubectl_jsonpath(cluster, &ns, pod, started),
        "true true/true"
    );
    let env_from = "{.spec.containers[0].envFrom[0].configMapRef.name}";
    assert_eq!(kubectl_jsonpath(cluster, &ns, pod, env_from), "extra-env");

    apply_ok(cluster, &ns, &job("v2", None));
    let last_savepoint = "{.status.savepoints[-1:].trigger}";
    let upgraded = |t: &str| t == "upgrade";
    wait_for(
        cluster,
        &ns,
        sj,
        last_savepoint,
        Duration::from_secs(180),
        upgraded,
    );
    wait_for(cluster, &ns, sj, steady, Duration::from_secs(300), running);
    wait_for(cluster, &ns, pod, note, Duration::from_secs(60), |v| {
        v == "v2"
    });
    redeploy_from_last_savepoint(cluster, &ns);
    let hash = "{.metadata.annotations.sluice\\.dev/deploy-hash}";
    let deployed = kubectl_jsonpath(cluster, &ns, pod, hash);

    apply_ok(cluster, &ns, &job("v3", Some("/bin/sh")));
    let field = "spec.podTemplate.spec.containers[0].command";
    wait_degraded(
        cluster,
        &ns,
        &["InvalidSpec"],
        Duration::from_secs(60),
        &[field],
    );
    assert_eq!(kubectl_jsonpath(cluster, &ns, pod, note), "v2");
    assert_eq!(kubectl_jsonpath(cluster, &ns, pod, hash), deployed);
    kubectl_ok(cluster, &["-n", &ns, "delete", sj, "--timeout=60s"]);
    wait_pods_gone(cluster, &ns);
}

/// `savepointRedeployNonce` with `initialSavepointPath` set to the job's newest savepoint: a `RedeployStarted`
/// Event, new pods restoring from it (`status.restoredFrom`) in the new state lineage (`SLUICE_LINEAGE` =
/// `status.lineage`), and the job running again.
fn redeploy_from_last_savepoint(cluster: &RealCluster, ns: &str) {
    let sj = "streamjob/fraud";
    let location = kubectl_jsonpath(cluster, ns, sj, "{.status.savepoints[-1:].location}");
    assert!(location.starts_with("s3://"), "{location}");
    let patch = serde_json::json!({"spec": {"initialSavepointPath": location, "savepointRedeployNonce": 1}});
    let patch = patch.to_string();
    kubectl_ok(
        cluster,
        &["-n", ns, "patch", sj, "--type=merge", "-p", &patch],
    );
    assert_event(cluster, ns, "RedeployStarted", &location);
    let limit = Duration::from_secs(60);
    let new_lineage = |v: &str| v.starts_with("rd-");
    let lineage = wait_for(cluster, ns, sj, "{.status.lineage}", limit, new_lineage);
    let env = "{.spec.containers[0].env[?(@.name==\"SLUICE_LINEAGE\")].value}";
    let pod = "pod/fraud-worker-0";
    wait_for(cluster, ns, pod, env, Duration::from_secs(120), |v| {
        v == lineage
    });
    let steady = "{.status.lifecycleState}/{.status.parallelism}";
    let running = |v: &str| v == "RUNNING/1" || v == "STABLE/1";
    wait_for(cluster, ns, sj, steady, Duration::from_secs(300), running);
    let restored = kubectl_jsonpath(cluster, ns, sj, "{.status.restoredFrom}");
    assert_eq!(restored, location);
}

/// Every object the example's workers wrote to the store (checkpoints, savepoints, manifests) is sealed with
/// the example's state key (`state.encryption`), and no card id is readable in any of them.
/// The example runs with control TLS (the default): the operator made its CA Secret in its own namespace
/// and the job's certificate Secret, the kubelet probes the workers over HTTPS, and a worker's control port
/// speaks only TLS, with the job's certificate (checked from the host through the bridge with the CLI's
/// `--ca-file`/`--job`, which verifies as the operator does).
fn control_tls_on_the_node(cluster: &RealCluster, ns: &str, job: &str, operator_ns: &str) {
    let ca_secret = "sluice-sluice-operator-control-ca";
    let found = kubectl_ok(
        cluster,
        &["-n", operator_ns, "get", "secret", ca_secret, "-o", "name"],
    );
    assert!(found.contains(ca_secret), "{found}");
    let secret = format!("{job}-control-tls");
    let ca_b64 = kubectl_jsonpath(cluster, ns, &format!("secret/{secret}"), "{.data.ca\\.crt}");
    let pod = format!("{job}-worker-0");
    let scheme = kubectl_jsonpath(
        cluster,
        ns,
        &format!("pod/{pod}"),
        "{.spec.containers[0].readinessProbe.httpGet.scheme}",
    );
    assert_eq!(scheme.trim(), "HTTPS");
    let ip = kubectl_jsonpath(cluster, ns, &format!("pod/{pod}"), "{.status.podIP}");
    let dir = run_root().join(unique_name("node-control-tls"));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.crt");
    std::fs::write(&ca, base64_decode(ca_b64.trim())).unwrap();
    let worker = format!("https://{}:8080", ip.trim());
    let status = |job_ref: &str| {
        Command::new(sluice_testbed::binaries::binary("sluice").unwrap())
            .args(["status", "--worker", &worker, "--ca-file"])
            .arg(&ca)
            .args(["--job", job_ref])
            .output()
            .unwrap()
    };
    // Without the token the worker answers 401 — after the TLS handshake, which is what is checked here:
    // the job's name verifies, another job's does not.
    let ours = String::from_utf8_lossy(&status(&format!("{ns}/{job}")).stderr).into_owned();
    assert!(ours.contains("answered 401"), "{ours}");
    let other = String::from_utf8_lossy(&status(&format!("{ns}/not-{job}")).stderr).into_owned();
    assert!(
        !other.contains("answered") && other.contains("calling"),
        "{other}"
    );
}

/// After the whole lifecycle above (the operator at trace for its own crate): neither the control token, the
/// S3 secret key, the state key, nor the body of the control CA's or the job certificate's private key
/// appears in any operator or worker log (current and previous containers), in the namespace's Events, in
/// the StreamJob (spec and status) or in the job ConfigMap.
fn no_secret_anywhere(cluster: &RealCluster, ns: &str, operator_ns: &str, job: &str, token: &str) {
    let secret_data = |namespace: &str, secret: &str, key: &str| {
        let path = format!("{{.data.{}}}", key.replace('.', "\\."));
        let b64 = kubectl_jsonpath(cluster, namespace, &format!("secret/{secret}"), &path);
        String::from_utf8(base64_decode(b64.trim())).unwrap()
    };
    // A PEM key's first body line: 64 characters of key material.
    let key_line = |pem: String| {
        pem.lines()
            .find(|l| !l.starts_with("-----") && l.len() >= 40)
            .unwrap()
            .to_string()
    };
    let ca_key = key_line(secret_data(
        operator_ns,
        "sluice-sluice-operator-control-ca",
        "ca.key",
    ));
    let job_key = key_line(secret_data(ns, &format!("{job}-control-tls"), "tls.key"));
    let (_, state_key) = example_state_key();
    let secrets = [
        ("control token", token.to_string()),
        ("S3 secret key", S3_SECRET_KEY.to_string()),
        ("state key", state_key),
        ("control CA key", ca_key),
        ("job certificate key", job_key),
    ];
    let mut places: Vec<(String, String)> = Vec::new();
    for namespace in [ns, operator_ns] {
        let pods = kubectl_ok(cluster, &["-n", namespace, "get", "pods", "-o", "name"]);
        for pod in pods.split_whitespace() {
            for previous in ["--previous=false", "--previous=true"] {
                let out = kubectl(
                    cluster,
                    &["-n", namespace, "logs", pod, "--all-containers", previous],
                );
                places.push((
                    format!("{namespace} {pod} logs {previous}"),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                ));
            }
        }
    }
    for (what, args) in [
        ("events", vec!["-n", ns, "get", "events", "-o", "yaml"]),
        (
            "streamjob",
            vec!["-n", ns, "get", "streamjob", job, "-o", "yaml"],
        ),
        (
            "configmaps",
            vec!["-n", ns, "get", "configmaps", "-o", "yaml"],
        ),
        (
            "operator events",
            vec!["-n", operator_ns, "get", "events", "-o", "yaml"],
        ),
    ] {
        places.push((what.to_string(), kubectl_ok(cluster, &args)));
    }
    let logged: usize = places.iter().map(|(_, text)| text.len()).sum();
    assert!(logged > 10_000, "too little text to check: {logged} bytes");
    for (name, value) in &secrets {
        for (place, text) in &places {
            assert!(
                !text.contains(value.as_str()),
                "the {name} appears in {place}"
            );
        }
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn assert_store_sealed(rt: &tokio::runtime::Runtime, endpoint: &str, bucket: &str) {
    let (key_id, _) = example_state_key();
    let objects = rt.block_on(bucket_objects(endpoint, bucket)).unwrap();
    assert!(objects.len() > 10, "only {} objects", objects.len());
    for (key, bytes) in &objects {
        let sealed_with = sluice_store::sealed::Keyring::key_id_of(bytes);
        assert_eq!(sealed_with.as_deref(), Some(key_id.as_str()), "{key}");
        assert!(
            !bytes.windows(5).any(|w| w == b"card-"),
            "{key} shows a card id"
        );
    }
}

/// Waits up to 5 minutes until the job has consumed all its input.
fn wait_consumed(h: &JobHarness) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !matches!(h.lag(), Ok(0)) {
        assert!(
            Instant::now() < deadline,
            "the load was not consumed: lag {:?}",
            h.lag()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `kubectl drain` of the node (its worker pods) while the load runs. The job's PodDisruptionBudget lets one
/// worker go; its replacement cannot be scheduled on the cordoned node, so the drain stops at the budget and
/// times out, as it does on a real cluster with no spare node. The eviction is a `WorkerDisrupted` Event,
/// counts no restart and never fails the job; after `uncordon` the job runs again.
fn drain_under_load(cluster: &RealCluster, ns: &str, job: &str) {
    let pdb = format!("poddisruptionbudget/{job}-workers");
    wait_for(
        cluster,
        ns,
        &pdb,
        "{.status.disruptionsAllowed}",
        Duration::from_secs(60),
        |v| v == "1",
    );
    let drain = kubectl(
        cluster,
        &[
            "drain",
            NODE_NAME,
            "--pod-selector=app.kubernetes.io/name=sluice-worker",
            "--delete-emptydir-data",
            "--ignore-daemonsets",
            "--timeout=25s",
        ],
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&drain.stdout),
        String::from_utf8_lossy(&drain.stderr)
    );
    kubectl_ok(cluster, &["uncordon", NODE_NAME]);
    assert!(
        !drain.status.success(),
        "the drain passed the budget: {said}"
    );
    assert!(said.contains("disruption budget"), "{said}");
    let evicted = said.matches(" evicted").count();
    assert_eq!(evicted, 1, "one worker at a time: {said}");
    assert_event(cluster, ns, "WorkerDisrupted", "EvictionByEvictionAPI");
    let sj = format!("streamjob/{job}");
    let failures = "{.status.restarts.failure}|{.status.restarts.recent}";
    let counted = kubectl_jsonpath(cluster, ns, &sj, failures);
    assert_eq!(counted, "|", "an eviction counted as a failure");
}

/// Faults of a node under load: a worker process SIGKILLed inside its container (the kubelet restarts the
/// container; one `WorkerRestarted` with exit code 137), the kubelet itself killed and restarted (the pods
/// run on; the new kubelet adopts them), and a worker pod force-deleted (the operator creates it again after
/// its restart backoff).
fn node_faults(cluster: &mut RealCluster, ns: &str, job: &str) {
    let sj = format!("streamjob/{job}");
    let worker0 = format!("{job}-worker-0");
    kill_container_process(&worker0, "sluice-worker");
    let restarted = format!("pod {worker0} restarted");
    assert_event(cluster, ns, "WorkerRestarted", &restarted);
    assert_event(cluster, ns, "WorkerRestarted", "exit code 137");
    pod_ready(cluster, ns, &worker0);

    cluster
        .restart_kubelet()
        .unwrap_or_else(|e| panic!("restarting the kubelet: {e}"));

    let worker1 = format!("pod/{job}-worker-1");
    let uid = kubectl_jsonpath(cluster, ns, &worker1, "{.metadata.uid}");
    kubectl_ok(
        cluster,
        &["-n", ns, "delete", &worker1, "--force", "--grace-period=0"],
    );
    let limit = Duration::from_secs(120);
    wait_for(cluster, ns, &worker1, "{.metadata.uid}", limit, |u| {
        !u.is_empty() && u != uid
    });
    pod_ready(cluster, ns, &format!("{job}-worker-1"));
    // The killed process and the lost pod count against restartPolicy; the kubelet's restart does not.
    let restarts = kubectl_jsonpath(cluster, ns, &sj, "{.status.restarts.recent[*]}");
    assert_eq!(
        restarts.split_whitespace().count(),
        2,
        "restarts: {restarts}"
    );
}

/// Waits up to 3 minutes until `pod` is Ready.
fn pod_ready(cluster: &RealCluster, ns: &str, pod: &str) {
    let pod = format!("pod/{pod}");
    let wait = [
        "-n",
        ns,
        "wait",
        "--for=condition=Ready",
        &pod,
        "--timeout=180s",
    ];
    kubectl_ok(cluster, &wait);
}

/// SIGKILLs the process named `comm` in `pod`'s container from the host, as the kernel's OOM killer would.
/// Containers share the host's process table; the pod's name is the container's `HOSTNAME`.
fn kill_container_process(pod: &str, comm: &str) {
    let needle = format!("HOSTNAME={pod}");
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if name.trim() != comm {
            continue;
        }
        let env = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            let pid = pid.to_string();
            let killed = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
            assert!(killed.success(), "kill -KILL {pid}");
            return;
        }
    }
    panic!("no {comm} process of pod {pod}");
}

/// Arms a crash point after each upgrade step in the operator's pods and waits for them to roll out. Each
/// pod's marker files live in its own `/tmp` (an emptyDir, kept across container restarts), so a pod dies at
/// most once per step, and each step kills whichever pod first persists it. Returns the Deployment.
fn arm_operator_crash_points(cluster: &RealCluster, operator_ns: &str) -> String {
    let name = "jsonpath={.items[0].metadata.name}";
    let deployment = format!(
        "deployment/{}",
        kubectl_ok(
            cluster,
            &["-n", operator_ns, "get", "deployment", "-o", name]
        )
    );
    let armed = format!("{CRASH_ENV}={}", crash_after_each_step(Path::new("/tmp")));
    kubectl_ok(
        cluster,
        &["-n", operator_ns, "set", "env", &deployment, &armed],
    );
    rollout(cluster, operator_ns, &deployment);
    deployment
}

fn rollout(cluster: &RealCluster, namespace: &str, deployment: &str) {
    kubectl_ok(
        cluster,
        &[
            "-n",
            namespace,
            "rollout",
            "status",
            deployment,
            "--timeout=240s",
        ],
    );
}

/// Watches the operator pods until `done`: every container death, by the step its crash point names (the
/// termination message the crash point writes), in order. A death that names no step is kept as `unknown`.
/// The kubelet reports a death a moment after it happened, and the upgrade can end right after the last
/// one: once it is over, looks again for up to 60 s until every step has its death.
fn deaths_until(cluster: &RealCluster, operator_ns: &str, done: impl Fn() -> bool) -> Vec<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut deaths = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !done() {
        record_deaths(cluster, operator_ns, &mut seen, &mut deaths);
        assert!(
            Instant::now() < deadline,
            "the upgrade did not finish; deaths so far {deaths:?}\n{}",
            operator_logs(cluster)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let settle = Instant::now() + Duration::from_secs(60);
    loop {
        record_deaths(cluster, operator_ns, &mut seen, &mut deaths);
        let every_step = UPGRADE_STEPS.iter().all(|s| deaths.iter().any(|d| d == s));
        if every_step || Instant::now() > settle {
            return deaths;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Adds the operator pods' container deaths not in `seen` to `deaths`: the current state when it is a
/// termination (the kubelet has not restarted the container yet) and the last one, each known by its
/// container id; a clean exit is no death.
fn record_deaths(
    cluster: &RealCluster,
    operator_ns: &str,
    seen: &mut BTreeSet<String>,
    deaths: &mut Vec<String>,
) {
    let out = kubectl_ok(cluster, &["-n", operator_ns, "get", "pods", "-o", "json"]);
    let pods: serde_json::Value = serde_json::from_str(&out).unwrap();
    let statuses = pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|pod| {
            pod["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
        });
    for status in statuses {
        for state in [&status["state"], &status["lastState"]] {
            let exit = &state["terminated"];
            let Some(at) = exit["finishedAt"].as_str() else {
                continue;
            };
            let id = exit["containerID"].as_str().unwrap_or(at);
            // Exit 0 is a clean stop (an old ReplicaSet's pod shutting down when the crash points were
            // armed), not a death.
            if !seen.insert(id.to_string()) || exit["exitCode"].as_i64() == Some(0) {
                continue;
            }
            let message = exit["message"].as_str().unwrap_or("");
            let step = UPGRADE_STEPS
                .iter()
                .find(|s| message.contains(&format!("crash point {} reached", persisted(s))));
            deaths.push(step.map_or_else(
                || format!("unknown: {at} exit {} {message}", exit["exitCode"]),
                |s| s.to_string(),
            ));
        }
    }
}

/// The operator pods' container states and their previous containers' last log lines, for a failure message.
fn operator_deaths_report(cluster: &RealCluster, operator_ns: &str) -> String {
    let states =
        "jsonpath={range .items[*]}{.metadata.name}: {.status.containerStatuses[0]}{\"\\n\"}{end}";
    let mut text = kubectl_ok(cluster, &["-n", operator_ns, "get", "pods", "-o", states]);
    let names = kubectl_ok(
        cluster,
        &[
            "-n",
            operator_ns,
            "get",
            "pods",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ],
    );
    for pod in names.split_whitespace() {
        let out = kubectl(
            cluster,
            &["-n", operator_ns, "logs", pod, "--previous", "--tail=15"],
        );
        text.push_str(&format!(
            "--- {pod} (previous)\n{}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    text
}

/// Force-deletes the operator pod holding the Lease as soon as the job's upgrade is at one of `steps`
/// (`status.upgrade.step`'s key), as a crashed node would take it; waits until the standby holds the Lease.
/// Returns the step it was killed at.
fn kill_leader_during(
    cluster: &RealCluster,
    operator_ns: &str,
    ns: &str,
    sj: &str,
    steps: &[&'static str],
) -> &'static str {
    let deadline = Instant::now() + Duration::from_secs(120);
    let step = loop {
        let step = kubectl_jsonpath(cluster, ns, sj, "{.status.upgrade.step}");
        if let Some(hit) = steps.iter().find(|s| step.contains(&format!("\"{s}\""))) {
            break *hit;
        }
        assert!(
            Instant::now() < deadline,
            "the upgrade never reached {steps:?} (now {step:?})"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let lease = "lease/sluice-operator";
    let holder = kubectl_jsonpath(cluster, operator_ns, lease, "{.spec.holderIdentity}");
    let pod = format!("pod/{holder}");
    kubectl_ok(
        cluster,
        &[
            "-n",
            operator_ns,
            "delete",
            &pod,
            "--force",
            "--grace-period=0",
        ],
    );
    wait_for(
        cluster,
        operator_ns,
        lease,
        "{.spec.holderIdentity}",
        Duration::from_secs(90),
        |h| !h.is_empty() && h != holder,
    );
    step
}

/// Changing only the rollback policy and `upgradeMode` keeps the pods. Then an upgrade to an image tag the
/// registry does not have: the savepoint is taken, the new pods cannot pull
/// their image, and after `rollback.readinessTimeout` the operator redeploys the last stable spec from that
/// savepoint, blocks the bad generation and says why (Kubernetes' pull error) in the `RollbackStarted` Event.
fn bad_tag_rolled_back(cluster: &RealCluster, ns: &str, job: &str, worker_image: &str) {
    let sj = format!("streamjob/{job}");
    let merge = |body: serde_json::Value| {
        let body = body.to_string();
        kubectl_ok(
            cluster,
            &["-n", ns, "patch", &sj, "--type=merge", "-p", &body],
        );
    };
    // Rollback timings and the upgrade mode are policy, not deployment: changing them restarts nothing.
    let uids = "{.items[*].metadata.uid}";
    let pods_before = kubectl_jsonpath(cluster, ns, "pods", uids);
    let rollback = serde_json::json!({"readinessTimeout": "20s", "stableAfter": "5s"});
    merge(serde_json::json!({"spec": {"rollback": rollback, "upgradeMode": "last-state"}}));
    let lifecycle = "{.status.lifecycleState}";
    let limit = Duration::from_secs(120);
    wait_for(cluster, ns, &sj, lifecycle, limit, |v| v == "STABLE");
    let generation = "{.metadata.generation}/{.status.observedGeneration}";
    wait_for(cluster, ns, &sj, generation, limit, |v| {
        v.split_once('/').is_some_and(|(a, b)| a == b)
    });
    // An upgrade would have been started in the status write that observed the generation.
    let upgrade = kubectl_jsonpath(cluster, ns, &sj, "{.status.upgrade}");
    assert_eq!(upgrade, "", "a policy change started an upgrade");
    let pods_after = kubectl_jsonpath(cluster, ns, "pods", uids);
    assert_eq!(pods_before, pods_after, "a policy change restarted pods");
    let good_hash = kubectl_jsonpath(cluster, ns, &sj, "{.status.deployedHash}");
    let (repository, _) = worker_image.rsplit_once(':').unwrap();
    let missing = format!("{repository}:no-such-tag");
    merge(serde_json::json!({"spec": {"image": missing, "upgradeMode": "savepoint"}}));

    let limit = Duration::from_secs(240);
    wait_for(cluster, ns, &sj, lifecycle, limit, |v| v == "ROLLED_BACK");
    assert_event(cluster, ns, "RollbackStarted", "no-such-tag");
    let degraded = "{.status.conditions[?(@.type==\"Degraded\")].reason}";
    assert_eq!(kubectl_jsonpath(cluster, ns, &sj, degraded), "RolledBack");
    let hash = kubectl_jsonpath(cluster, ns, &sj, "{.status.deployedHash}");
    assert_eq!(hash, good_hash, "the rolled-back deployment");
    let images = "{.items[*].spec.containers[0].image}";
    let running = |v: &str| v == format!("{worker_image} {worker_image}");
    wait_for(cluster, ns, "pods", images, limit, running);
}

/// `spec.state: suspended` stops every worker with a savepoint into the store and removes the pods;
/// `running` brings the job back from that savepoint.
fn suspend_and_resume(cluster: &RealCluster, ns: &str, job: &str, bucket: &str) {
    let sj = format!("streamjob/{job}");
    let state = |s: &str| format!("{{\"spec\":{{\"state\":\"{s}\"}}}}");
    let patch = |s: &str| {
        let body = state(s);
        kubectl_ok(
            cluster,
            &["-n", ns, "patch", &sj, "--type=merge", "-p", &body],
        );
    };
    patch("suspended");
    let lifecycle = "{.status.lifecycleState}";
    wait_for(cluster, ns, &sj, lifecycle, Duration::from_secs(180), |v| {
        v == "SUSPENDED"
    });
    assert_event(
        cluster,
        ns,
        "SavepointCompleted",
        &format!("(Suspend) at s3://{bucket}/"),
    );
    wait_pods_gone(cluster, ns);
    patch("running");
}

/// A restricted namespace holding what the localized example refers to: the control token and S3
/// Secrets, and the model ConfigMap with `model` as its content.
fn example_namespace(cluster: &RealCluster, prefix: &str, token: &str, model: &str) -> String {
    let ns = restricted_namespace(cluster, prefix);
    let token = format!("--from-literal=token={token}");
    kubectl_ok(
        cluster,
        &["-n", &ns, "create", "secret", "generic", "control", &token],
    );
    let access = format!("--from-literal=AWS_ACCESS_KEY_ID={S3_ACCESS_KEY}");
    let secret = format!("--from-literal=AWS_SECRET_ACCESS_KEY={S3_SECRET_KEY}");
    kubectl_ok(
        cluster,
        &[
            "-n", &ns, "create", "secret", "generic", "s3", &access, &secret,
        ],
    );
    let (key_id, key) = example_state_key();
    let key = format!("--from-literal={key_id}={key}");
    kubectl_ok(
        cluster,
        &[
            "-n",
            &ns,
            "create",
            "secret",
            "generic",
            STATE_KEYS_SECRET,
            &key,
        ],
    );
    let model = format!("--from-literal=model.yaml={model}");
    kubectl_ok(
        cluster,
        &["-n", &ns, "create", "configmap", "fraud-model", &model],
    );
    let watched = "sluice.dev/model=fraud";
    kubectl_ok(
        cluster,
        &["-n", &ns, "label", "configmap", "fraud-model", watched],
    );
    ns
}

/// Jobs Kubernetes cannot run as asked; each must say so in its `Degraded` condition and Events.
fn troubled_jobs(cluster: &RealCluster, worker_image: &str) {
    // No broker and no store: none of these workers gets as far as using them.
    let config: sluice_crds::JobConfig =
        serde_norway::from_str("transactionalIdPrefix: fraud-trouble").unwrap();
    let job = |ns: &str, image: &str, parallelism: i64| {
        let local = Localization {
            name: "fraud",
            namespace: ns,
            image,
            job: &config,
            bootstrap: "192.0.2.1:9092",
            bucket: "none",
            s3_endpoint: "http://192.0.2.1:9000",
        };
        let mut doc = localize(&local);
        doc["spec"]["parallelism"] = parallelism.into();
        doc["spec"]["partitions"] = 2.into();
        serde_norway::to_string(&doc).unwrap()
    };
    // A ResourceQuota that admits one pod: the second worker is refused by the API server.
    let ns = example_namespace(cluster, "quota", "t0ken", FRAUD_V1_YAML);
    kubectl_ok(
        cluster,
        &["-n", &ns, "create", "quota", "one-pod", "--hard=pods=1"],
    );
    apply_ok(cluster, &ns, &job(&ns, worker_image, 2));
    let limit = Duration::from_secs(120);
    let needles = ["fraud-worker-1", "exceeded quota"];
    wait_degraded(cluster, &ns, &["PodRejected"], limit, &needles);
    assert_event(cluster, &ns, "PodRejected", "exceeded quota");

    // An image tag that does not exist in the registry.
    let ns = example_namespace(cluster, "bad-image", "t0ken", FRAUD_V1_YAML);
    let (repository, _) = worker_image.rsplit_once(':').unwrap();
    let missing = format!("{repository}:no-such-tag");
    apply_ok(cluster, &ns, &job(&ns, &missing, 1));
    let pulling = ["ErrImagePull", "ImagePullBackOff"];
    let needles = ["pod fraud-worker-0", "no-such-tag"];
    let reason = wait_degraded(cluster, &ns, &pulling, limit, &needles);
    assert_event(cluster, &ns, &reason, "fraud-worker-0");

    // A worker that exits at start (its model does not parse): the worker's own fatal error, from its
    // termination message, reaches the condition and the WorkerRestarted Events.
    let ns = example_namespace(cluster, "crash", "t0ken", "version: [not a model");
    apply_ok(cluster, &ns, &job(&ns, worker_image, 1));
    let crashing = ["CrashLoopBackOff", "Error"];
    let needles = ["pod fraud-worker-0", "scoring model"];
    wait_degraded(cluster, &ns, &crashing, Duration::from_secs(180), &needles);
    assert_event(cluster, &ns, "WorkerRestarted", "scoring model");
    let history = "{.status.warningHistory[*].message}";
    let history = kubectl_jsonpath(cluster, &ns, "streamjob/fraud", history);
    assert!(
        history.contains("scoring model"),
        "warningHistory: {history}"
    );
}

/// Waits until `streamjob/fraud` in `ns` is Degraded for one of `reasons`, then checks that the condition's
/// message contains every one of `needles`; returns the reason.
fn wait_degraded(
    cluster: &RealCluster,
    ns: &str,
    reasons: &[&str],
    timeout: Duration,
    needles: &[&str],
) -> String {
    let sj = "streamjob/fraud";
    let degraded = "{.status.conditions[?(@.type==\"Degraded\")]";
    let reason = format!("{degraded}.reason}}");
    let reason = wait_for(cluster, ns, sj, &reason, timeout, |r| reasons.contains(&r));
    let message = kubectl_jsonpath(cluster, ns, sj, &format!("{degraded}.message}}"));
    assert!(needles.iter().all(|n| message.contains(n)), "{message}");
    reason
}

fn apply_ok(cluster: &RealCluster, namespace: &str, yaml: &str) {
    let out = apply(cluster, namespace, yaml);
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits up to 2 minutes until every pod of `namespace` is gone.
fn wait_pods_gone(cluster: &RealCluster, namespace: &str) {
    let wait = "--timeout=120s";
    kubectl_ok(
        cluster,
        &[
            "-n",
            namespace,
            "wait",
            "--for=delete",
            "pods",
            "--all",
            wait,
        ],
    );
}

fn kubectl_jsonpath(cluster: &RealCluster, namespace: &str, object: &str, path: &str) -> String {
    let path = format!("jsonpath={path}");
    kubectl_ok(cluster, &["-n", namespace, "get", object, "-o", &path])
}

/// Waits up to a minute for an Event with `reason` whose note contains `text`.
fn assert_event(cluster: &RealCluster, namespace: &str, reason: &str, text: &str) {
    let selector = format!("reason={reason}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let notes = kubectl_ok(
            cluster,
            &[
                "-n",
                namespace,
                "get",
                "events",
                "--field-selector",
                &selector,
                "-o",
                "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
            ],
        );
        if notes.lines().any(|n| n.contains(text)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {reason} Event containing {text:?} in {namespace}; {reason} Events: {notes}\n{}",
            operator_logs(cluster)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
