//! The Node object the agent registers: Ready, with this machine's CPU count and memory as capacity, address
//! 127.0.0.1. Its Ready condition's heartbeat is refreshed periodically so it looks alive to anything watching.

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::NodeAgentError;

const FIELD_MANAGER: &str = "sluice-node-agent";

fn memory_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

fn status(now: Timestamp) -> Value {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let capacity = json!({
        "cpu": cpus.to_string(),
        "memory": format!("{}Ki", memory_kib()),
        "pods": "110",
    });
    let t = serde_json::to_value(Time(now)).unwrap_or(Value::Null);
    json!({ "status": {
        "capacity": capacity,
        "allocatable": capacity,
        "addresses": [ { "type": "InternalIP", "address": "127.0.0.1" } ],
        "conditions": [ {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "sluice-node-agent is running pods as local processes",
            "lastHeartbeatTime": t,
            "lastTransitionTime": t,
        } ],
        "nodeInfo": {
            "machineID": "", "systemUUID": "", "bootID": "",
            "kernelVersion": "", "osImage": "", "containerRuntimeVersion": "sluice-node-agent://0",
            "kubeletVersion": "v0.0.0-sluice-node-agent", "kubeProxyVersion": "",
            "operatingSystem": std::env::consts::OS, "architecture": "amd64",
        },
    } })
}

/// Creates the Node (or adopts an existing one of that name) and reports it Ready.
pub async fn register(client: &Client, name: &str) -> Result<(), NodeAgentError> {
    let nodes = Api::<Node>::all(client.clone());
    if nodes
        .get_opt(name)
        .await
        .map_err(NodeAgentError::kube("reading the Node"))?
        .is_none()
    {
        let node: Node = serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": std::env::consts::OS,
                    "sluice.dev/node-agent": "true",
                },
            },
        }))
        .map_err(|e| NodeAgentError::Config(format!("building the Node object: {e}")))?;
        nodes
            .create(&PostParams::default(), &node)
            .await
            .map_err(NodeAgentError::kube("creating the Node"))?;
    }
    heartbeat(client, name).await
}

/// Re-reports the Node status with a fresh heartbeat time.
pub async fn heartbeat(client: &Client, name: &str) -> Result<(), NodeAgentError> {
    Api::<Node>::all(client.clone())
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Merge(status(Timestamp::now())),
        )
        .await
        .map_err(NodeAgentError::kube("patching the Node status"))?;
    Ok(())
}
