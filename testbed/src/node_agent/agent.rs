//! The agent's main loop: register the Node, keep its heartbeat, watch all pods, bind unscheduled ones to this
//! node (there is no scheduler), and run one [`worker`](super::worker) per pod bound here.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::ips::IpPool;
use super::plan::ImageMapping;
use super::worker::{WorkerContext, run_pod};
use super::{NodeAgentError, node};

const HEARTBEAT: Duration = Duration::from_secs(10);

/// How the agent presents itself and where it keeps pod files.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub node_name: String,
    /// Pod directories are `<root_dir>/<namespace>_<name>/`.
    pub root_dir: PathBuf,
    pub images: Vec<ImageMapping>,
    /// Only bind and run pods of this namespace (None: all). Lets several agents share one API server, e.g.
    /// tests that each run their own agent against the shared test-bed cluster.
    pub namespace: Option<String>,
}

struct Running {
    uid: String,
    tx: watch::Sender<Option<Pod>>,
}

/// Runs until the pod watch ends (it does not, short of the task being dropped; dropping it kills every pod
/// process, because the worker tasks live in a `JoinSet` that aborts them).
pub async fn run(client: Client, config: AgentConfig) -> Result<(), NodeAgentError> {
    std::fs::create_dir_all(&config.root_dir).map_err(NodeAgentError::io(format!(
        "creating {}",
        config.root_dir.display()
    )))?;
    node::register(&client, &config.node_name).await?;
    tracing::info!(node = %config.node_name, "node registered");
    let ctx = WorkerContext {
        client: client.clone(),
        node_name: config.node_name.clone(),
        root_dir: config.root_dir.clone(),
        images: Arc::new(config.images.clone()),
        ips: IpPool::default(),
    };
    let mut workers: JoinSet<()> = JoinSet::new();
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut listed: Option<HashSet<String>> = None;
    let pods = match &config.namespace {
        Some(ns) => Api::<Pod>::namespaced(client.clone(), ns),
        None => Api::<Pod>::all(client.clone()),
    };
    let mut events = watcher(pods, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                if let Err(e) = node::heartbeat(&client, &config.node_name).await {
                    tracing::warn!(error = %e, "node heartbeat failed");
                }
            }
            Some(_) = workers.join_next(), if !workers.is_empty() => {}
            event = events.next() => {
                let Some(event) = event else { return Ok(()) };
                match event {
                    Ok(watcher::Event::Init) => listed = Some(HashSet::new()),
                    Ok(watcher::Event::InitApply(pod)) => {
                        if let Some(seen) = listed.as_mut() {
                            seen.insert(key(&pod));
                        }
                        on_pod(&ctx, pod, &mut running, &mut workers).await;
                    }
                    Ok(watcher::Event::InitDone) => {
                        // Pods deleted while the watch was down never send a Delete: stop their workers now.
                        if let Some(seen) = listed.take() {
                            running.retain(|k, r| {
                                let keep = seen.contains(k);
                                if !keep { r.tx.send_replace(None); }
                                keep
                            });
                        }
                    }
                    Ok(watcher::Event::Apply(pod)) => on_pod(&ctx, pod, &mut running, &mut workers).await,
                    Ok(watcher::Event::Delete(pod)) => {
                        if let Some(r) = running.remove(&key(&pod)) {
                            r.tx.send_replace(None);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "pod watch error (retrying)"),
                }
            }
        }
    }
}

fn key(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())
}

async fn on_pod(
    ctx: &WorkerContext,
    pod: Pod,
    running: &mut HashMap<String, Running>,
    workers: &mut JoinSet<()>,
) {
    let Some(spec) = pod.spec.as_ref() else {
        return;
    };
    let deleting = pod.metadata.deletion_timestamp.is_some();
    match spec.node_name.as_deref() {
        None if !deleting => {
            let default_scheduler = spec
                .scheduler_name
                .as_deref()
                .is_none_or(|s| s == "default-scheduler");
            if default_scheduler {
                bind(ctx, &pod).await;
            }
        }
        Some(n) if n == ctx.node_name => {
            let k = key(&pod);
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            if let Some(r) = running.get(&k) {
                if r.uid == uid && !r.tx.is_closed() {
                    r.tx.send_replace(Some(pod));
                    return;
                }
                // A new pod under the same name: the old incarnation is gone.
                r.tx.send_replace(None);
            }
            running.remove(&k);
            if deleting {
                // Bound here but never run by this agent (e.g. it restarted): nothing to stop.
                finalise_unknown(ctx, &pod).await;
                return;
            }
            let (tx, rx) = watch::channel(Some(pod.clone()));
            workers.spawn(run_pod(ctx.clone(), pod, rx));
            running.insert(k, Running { uid, tx });
        }
        _ => {}
    }
}

async fn bind(ctx: &WorkerContext, pod: &Pod) {
    let ns = pod.namespace().unwrap_or_else(|| "default".into());
    let name = pod.name_any();
    let binding = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": { "name": name, "namespace": ns },
        "target": { "apiVersion": "v1", "kind": "Node", "name": ctx.node_name },
    });
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ns);
    match pods
        .create_subresource::<_, serde_json::Value>(
            "binding",
            &name,
            &PostParams::default(),
            &binding,
        )
        .await
    {
        Ok(_) => tracing::info!(pod = %name, node = %ctx.node_name, "pod bound"),
        // Already bound (a stale event): the next event shows the node name.
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => tracing::warn!(pod = %name, error = %e, "binding failed"),
    }
}

async fn finalise_unknown(ctx: &WorkerContext, pod: &Pod) {
    let ns = pod.namespace().unwrap_or_else(|| "default".into());
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    let _ = Api::<Pod>::namespaced(ctx.client.clone(), &ns)
        .delete(&pod.name_any(), &params)
        .await;
}
