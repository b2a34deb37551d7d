#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The node agent runs real pods of the local control plane as local processes: it registers a Ready Node,
//! binds unscheduled pods, serves ConfigMap/Secret volumes and env (ConfigMap, Secret, fieldRef) to the
//! process, gives each pod its own loopback IP, turns an httpGet readiness probe into the Ready condition,
//! restarts per restartPolicy, and on deletion stops the process (SIGKILL after the grace period) and removes
//! the pod.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use sluice_testbed::cache::run_root;
use sluice_testbed::node_agent::{self, AgentConfig};
use sluice_testbed::{KubeCluster, unique_name};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn wait_for<T>(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create<K>(client: &Client, ns: &str, json: serde_json::Value) -> K
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let obj: K = serde_json::from_value(json).unwrap();
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap()
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pid_of(pod: &Pod) -> Option<u32> {
    let status = pod.status.as_ref()?.container_statuses.as_ref()?.first()?;
    status
        .container_id
        .as_deref()?
        .rsplit('/')
        .next()?
        .parse()
        .ok()
}

async fn http_get(ip: Ipv4Addr, port: u16, path: &str) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect((ip, port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_agent_runs_pods_as_local_processes() {
    let dir = run_root().join(unique_name("kube"));
    let cluster = tokio::task::spawn_blocking(move || KubeCluster::from_env_or_start(&dir))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("starting the control plane: {e}"));
    let client = cluster.client().await.unwrap();
    let ns = unique_name("agent");
    Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({ "metadata": { "name": ns } })).unwrap(),
        )
        .await
        .unwrap();
    let node_name = unique_name("node");
    let root = run_root().join(unique_name("agent-root"));
    let agent = tokio::spawn(node_agent::run(
        client.clone(),
        AgentConfig {
            node_name: node_name.clone(),
            root_dir: root.clone(),
            images: node_agent::default_image_mappings(),
            namespace: Some(ns.clone()),
        },
    ));

    // The Node is registered and Ready.
    let nodes = Api::<Node>::all(client.clone());
    wait_for(
        "the Node to be Ready",
        Duration::from_secs(30),
        async || {
            let node = nodes.get_opt(&node_name).await.ok()??;
            let conditions = node.status?.conditions?;
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
                .then_some(())
        },
    )
    .await;

    let _: ConfigMap = create(
        &client,
        &ns,
        serde_json::json!({
            "metadata": { "name": "web" },
            "data": { "index.html": "hello from a configmap", "greeting": "hi" }
        }),
    )
    .await;
    let _: Secret = create(
        &client,
        &ns,
        serde_json::json!({ "metadata": { "name": "creds" }, "stringData": { "password": "hunter2" } }),
    )
    .await;

    // A web server pod: ConfigMap volume at /srv/www (rewritten under the pod root), its own IP, readiness.
    let _: Pod = create(
        &client,
        &ns,
        serde_json::json!({
            "metadata": { "name": "web" },
            "spec": {
                "terminationGracePeriodSeconds": 10,
                "containers": [{
                    "name": "http",
                    "image": "python:3",
                    "command": ["python3", "-m", "http.server", "8080", "--bind", "$(POD_IP)", "--directory", "/srv/www"],
                    "ports": [ { "name": "http", "containerPort": 8080 } ],
                    "volumeMounts": [ { "name": "site", "mountPath": "/srv/www" } ],
                    "readinessProbe": { "httpGet": { "path": "/index.html", "port": "http" }, "periodSeconds": 1 }
                }],
                "volumes": [ { "name": "site", "configMap": { "name": "web" } } ]
            }
        }),
    )
    .await;
    let pods = Api::<Pod>::namespaced(client.clone(), &ns);
    let web = wait_for("pod web to be Ready", Duration::from_secs(60), async || {
        let pod = pods.get("web").await.ok()?;
        ready(&pod).then_some(pod)
    })
    .await;
    assert_eq!(
        web.spec.as_ref().unwrap().node_name.as_deref(),
        Some(node_name.as_str())
    );
    let ip: Ipv4Addr = web
        .status
        .as_ref()
        .unwrap()
        .pod_ip
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ip.is_loopback() && ip != Ipv4Addr::LOCALHOST, "pod IP {ip}");
    let page = http_get(ip, 8080, "/index.html").await.unwrap();
    assert!(page.contains("hello from a configmap"), "{page}");
    let web_pid = pid_of(&web).expect("no pid in containerID");

    // Env from a ConfigMap, a Secret and fieldRefs; restartPolicy Never ends in Failed with the exit code.
    let _: Pod = create(
        &client,
        &ns,
        serde_json::json!({
            "metadata": { "name": "env" },
            "spec": {
                "restartPolicy": "Never",
                "containers": [{
                    "name": "sh",
                    "image": "busybox",
                    // /etc/creds inside the script is rewritten to the Secret volume under the pod root.
                    "command": ["/bin/sh", "-c", "printf '%s|%s|%s|%s|%s' \"$GREETING\" \"$PASSWORD\" \"$ME\" \"$MY_IP\" \"`cat /etc/creds/password`\" > \"$SLUICE_POD_ROOT/out.txt\"; exit 3"],
                    "volumeMounts": [ { "name": "creds", "mountPath": "/etc/creds" } ],
                    "env": [
                        { "name": "GREETING", "valueFrom": { "configMapKeyRef": { "name": "web", "key": "greeting" } } },
                        { "name": "PASSWORD", "valueFrom": { "secretKeyRef": { "name": "creds", "key": "password" } } },
                        { "name": "ME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
                        { "name": "MY_IP", "valueFrom": { "fieldRef": { "fieldPath": "status.podIP" } } }
                    ]
                }],
                "volumes": [ { "name": "creds", "secret": { "secretName": "creds" } } ]
            }
        }),
    )
    .await;
    let env_pod = wait_for("pod env to fail", Duration::from_secs(30), async || {
        let pod = pods.get("env").await.ok()?;
        (pod.status.as_ref()?.phase.as_deref() == Some("Failed")).then_some(pod)
    })
    .await;
    let status = env_pod.status.unwrap();
    let terminated = status.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(terminated.exit_code, 3);
    let out =
        std::fs::read_to_string(node_agent::worker::pod_dir(&root, &ns, "env").join("out.txt"))
            .unwrap();
    assert_eq!(
        out,
        format!("hi|hunter2|env|{}|hunter2", status.pod_ip.unwrap())
    );

    // restartPolicy OnFailure: a crashing process is restarted and counted.
    let _: Pod = create(
        &client,
        &ns,
        serde_json::json!({
            "metadata": { "name": "crash" },
            "spec": {
                "restartPolicy": "OnFailure",
                "containers": [ { "name": "sh", "image": "busybox", "command": ["/bin/sh", "-c", "exit 1"] } ]
            }
        }),
    )
    .await;
    wait_for(
        "pod crash to restart twice",
        Duration::from_secs(30),
        async || {
            let pod = pods.get("crash").await.ok()?;
            let count = pod.status?.container_statuses?.first()?.restart_count;
            (count >= 2).then_some(())
        },
    )
    .await;

    // A process that ignores SIGTERM is SIGKILLed after the grace period, then the pod object is removed.
    let _: Pod = create(
        &client,
        &ns,
        serde_json::json!({
            "metadata": { "name": "stubborn" },
            "spec": {
                "terminationGracePeriodSeconds": 2,
                "containers": [ { "name": "sh", "image": "busybox", "command": ["/bin/sh", "-c", "trap '' TERM; while true; do sleep 1; done"] } ]
            }
        }),
    )
    .await;
    let stubborn = wait_for("pod stubborn to run", Duration::from_secs(30), async || {
        let pod = pods.get("stubborn").await.ok()?;
        pid_of(&pod).map(|_| pod)
    })
    .await;
    let stubborn_pid = pid_of(&stubborn).unwrap();
    // Give sh a moment to install its trap (it runs right after exec).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    pods.delete("stubborn", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        "pod stubborn to be removed",
        Duration::from_secs(30),
        async || pods.get_opt("stubborn").await.ok()?.is_none().then_some(()),
    )
    .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1800),
        "removed after {took:?}, before the 2s grace"
    );
    assert!(!Path::new(&format!("/proc/{stubborn_pid}")).exists());

    // Deleting the web pod stops its server (it exits on SIGTERM) and removes the pod.
    pods.delete("web", &DeleteParams::default()).await.unwrap();
    wait_for(
        "pod web to be removed",
        Duration::from_secs(30),
        async || pods.get_opt("web").await.ok()?.is_none().then_some(()),
    )
    .await;
    assert!(!Path::new(&format!("/proc/{web_pid}")).exists());
    assert!(http_get(ip, 8080, "/index.html").await.is_err());

    agent.abort();
    let _ = agent.await;
    // On a shared cluster, leave no Node behind for other tests to see.
    nodes
        .delete(&node_name, &DeleteParams::default())
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&root);
}
