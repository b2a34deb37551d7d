//! One task per pod bound to this node: resolve its ConfigMaps/Secrets, materialise its volumes under the pod
//! directory, run its first container as a local process (own process group, own loopback IP), probe
//! readiness, restart per restartPolicy with back-off, and on deletion stop the process (SIGTERM, SIGKILL after
//! the grace period), then finalise the pod (delete with grace 0) and remove its directory.
//!
//! The task receives the latest Pod through a watch channel; `None` means the pod is gone from the API.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Client, ResourceExt};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::Instant;

use super::ips::IpPool;
use super::plan::{ImageMapping, LaunchPlan, PlanContext, plan};
use super::status::{Observed, Phase, State, status_json};
use super::{NodeAgentError, probe, sources};

/// Environment variables a pod process inherits from the agent (everything else comes from the pod spec).
const INHERITED_ENV: [&str; 4] = ["PATH", "HOME", "LANG", "TMPDIR"];

/// What every pod worker shares.
#[derive(Clone)]
pub struct WorkerContext {
    pub client: Client,
    pub node_name: String,
    pub root_dir: PathBuf,
    pub images: std::sync::Arc<Vec<ImageMapping>>,
    pub ips: IpPool,
}

/// The directory of pod `ns/name` under the agent's root: volumes, working directory and the process log.
pub fn pod_dir(root: &Path, ns: &str, name: &str) -> PathBuf {
    root.join(format!("{ns}_{name}"))
}

fn is_deleted(pod: Option<&Pod>) -> bool {
    pod.is_none_or(|p| p.metadata.deletion_timestamp.is_some())
}

/// Kills the whole process group when dropped, so an aborted agent leaves no pod processes behind.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            signal_group(pgid, "KILL");
        }
    }
}

/// `kill -s SIG -- -PGID` (the procps tool keeps this crate free of unsafe code).
fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .arg("-s")
        .arg(signal)
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

struct PodWorker {
    ctx: WorkerContext,
    updates: watch::Receiver<Option<Pod>>,
    pods: Api<Pod>,
    name: String,
    uid: String,
    dir: PathBuf,
    ip: Option<Ipv4Addr>,
    obs: Observed,
}

/// Runs pod `initial` until it is deleted and finalised.
pub async fn run_pod(ctx: WorkerContext, initial: Pod, updates: watch::Receiver<Option<Pod>>) {
    let ns = initial.namespace().unwrap_or_else(|| "default".into());
    let name = initial.name_any();
    let container = initial
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .unwrap_or_default();
    let mut worker = PodWorker {
        pods: Api::namespaced(ctx.client.clone(), &ns),
        dir: pod_dir(&ctx.root_dir, &ns, &name),
        uid: initial.metadata.uid.clone().unwrap_or_default(),
        ip: ctx.ips.allocate(),
        ctx,
        updates,
        name,
        obs: Observed {
            phase: Phase::Pending,
            pod_ip: None,
            start_time: Timestamp::now(),
            container: container.0,
            image: container.1,
            state: State::Waiting {
                reason: "ContainerCreating".into(),
                message: String::new(),
            },
            last_state: None,
            ready: false,
            restart_count: 0,
            pid: None,
        },
    };
    worker.obs.pod_ip = worker.ip;
    tracing::info!(pod = %worker.name, ip = ?worker.ip, "starting pod");
    worker.lifecycle().await;
    worker.finalise().await;
}

impl PodWorker {
    fn latest(&self) -> Option<Pod> {
        self.updates.borrow().clone()
    }

    /// Waits up to `d`; returns true if the pod was deleted meanwhile.
    async fn sleep_or_deleted(&mut self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        loop {
            if is_deleted(self.latest().as_ref()) {
                return true;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return false,
                changed = self.updates.changed() => if changed.is_err() { return true },
            }
        }
    }

    async fn report(&self) {
        let body = serde_json::json!({ "status": status_json(&self.obs, Timestamp::now()) });
        if let Err(e) = self
            .pods
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            tracing::warn!(pod = %self.name, error = %e, "reporting pod status failed");
        }
    }

    async fn wait_for_deletion(&mut self) {
        while !is_deleted(self.latest().as_ref()) {
            if self.updates.changed().await.is_err() {
                return;
            }
        }
    }

    async fn prepare(&self) -> Result<LaunchPlan, NodeAgentError> {
        let pod = self
            .latest()
            .ok_or_else(|| NodeAgentError::Spec("pod is gone".into()))?;
        let ip = self
            .ip
            .ok_or_else(|| NodeAgentError::Spec("no free loopback pod IP".into()))?;
        let sources = sources::fetch(&self.ctx.client, &pod).await?;
        let plan = plan(
            &pod,
            &sources,
            &PlanContext {
                pod_root: &self.dir,
                pod_ip: ip,
                node_name: &self.ctx.node_name,
                images: &self.ctx.images,
            },
        )?;
        for dir in plan.dirs.iter().chain([&plan.working_dir, &self.dir]) {
            std::fs::create_dir_all(dir)
                .map_err(NodeAgentError::io(format!("creating {}", dir.display())))?;
        }
        for (path, bytes) in &plan.files {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(NodeAgentError::io(format!("creating {}", parent.display())))?;
            }
            std::fs::write(path, bytes)
                .map_err(NodeAgentError::io(format!("writing {}", path.display())))?;
        }
        Ok(plan)
    }

    fn spawn(&self, plan: &LaunchPlan) -> Result<Child, NodeAgentError> {
        let log = self.dir.join(format!("{}.log", plan.container));
        let out = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(NodeAgentError::io(format!("opening {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(NodeAgentError::io("duplicating a log handle"))?;
        let mut cmd = Command::new(&plan.program);
        cmd.args(&plan.args)
            .env_clear()
            .envs(
                INHERITED_ENV
                    .iter()
                    .filter_map(|k| std::env::var_os(k).map(|v| (*k, v))),
            )
            .envs(plan.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&plan.working_dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true);
        cmd.spawn().map_err(NodeAgentError::io(format!(
            "starting {} for pod {}",
            plan.program.display(),
            self.name
        )))
    }

    /// Everything up to the pod's deletion; returns when it is deleted (its process already stopped).
    async fn lifecycle(&mut self) {
        let plan = loop {
            match self.prepare().await {
                Ok(plan) => break plan,
                Err(e) => {
                    tracing::warn!(pod = %self.name, error = %e, "pod not startable yet");
                    self.obs.state = State::Waiting {
                        reason: "CreateContainerConfigError".into(),
                        message: e.to_string(),
                    };
                    self.report().await;
                    if self.sleep_or_deleted(Duration::from_secs(2)).await {
                        return;
                    }
                }
            }
        };
        loop {
            let exit = match self.spawn(&plan) {
                Ok(child) => self.supervise(child, &plan).await,
                Err(e) => {
                    tracing::warn!(pod = %self.name, error = %e, "spawn failed");
                    self.obs.last_state = None;
                    Some(127)
                }
            };
            let Some(code) = exit else {
                return; // deleted while running: already terminated
            };
            if !plan.restart_policy.restarts_after(code == 0) {
                self.obs.phase = if code == 0 {
                    Phase::Succeeded
                } else {
                    Phase::Failed
                };
                self.report().await;
                self.wait_for_deletion().await;
                return;
            }
            self.obs.restart_count += 1;
            // 1, 2, 4, then 8 s: short enough for tests, long enough not to spin on a crashing program.
            let backoff = Duration::from_secs(1 << (self.obs.restart_count.clamp(1, 4) - 1));
            self.obs.last_state = Some(self.obs.state.clone());
            self.obs.state = State::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: format!(
                    "back-off {}s restarting failed container",
                    backoff.as_secs()
                ),
            };
            self.obs.phase = Phase::Running;
            self.report().await;
            if self.sleep_or_deleted(backoff).await {
                return;
            }
        }
    }

    /// Runs one process until it exits (returns its exit code) or the pod is deleted (stops it, returns None).
    async fn supervise(&mut self, mut child: Child, plan: &LaunchPlan) -> Option<i32> {
        let pid = child.id();
        let _guard = GroupGuard(pid);
        let started_at = Timestamp::now();
        self.obs.pid = pid;
        self.obs.phase = Phase::Running;
        self.obs.state = State::Running { started_at };
        self.obs.ready = plan.readiness.is_none();
        self.report().await;
        let ip = self.ip.unwrap_or(Ipv4Addr::LOCALHOST);
        let mut next_probe = Instant::now()
            + plan
                .readiness
                .as_ref()
                .map_or(Duration::ZERO, |p| p.initial_delay);
        let (mut successes, mut failures) = (0u32, 0u32);
        loop {
            if is_deleted(self.latest().as_ref()) {
                self.terminate(&mut child, plan.grace).await;
                return None;
            }
            tokio::select! {
                status = child.wait() => {
                    let code = status.ok().and_then(|s| s.code()).unwrap_or(137);
                    tracing::info!(pod = %self.name, code, "pod process exited");
                    self.obs.ready = false;
                    self.obs.pid = None;
                    self.obs.state = State::Terminated { exit_code: code, started_at, finished_at: Timestamp::now() };
                    return Some(code);
                }
                () = tokio::time::sleep_until(next_probe), if plan.readiness.is_some() => {
                    let Some(p) = plan.readiness.as_ref() else { continue };
                    next_probe = Instant::now() + p.period;
                    let ok = probe::http_ok(p, ip).await;
                    (successes, failures) = if ok { (successes + 1, 0) } else { (0, failures + 1) };
                    let ready = if ok { successes >= p.success_threshold || self.obs.ready } else { self.obs.ready && failures < p.failure_threshold };
                    if ready != self.obs.ready {
                        self.obs.ready = ready;
                        self.report().await;
                    }
                }
                changed = self.updates.changed() => {
                    if changed.is_err() {
                        self.terminate(&mut child, Duration::ZERO).await;
                        return None;
                    }
                }
            }
        }
    }

    /// SIGTERM to the process group, SIGKILL after `grace` (or the pod's deletion grace period if set).
    async fn terminate(&mut self, child: &mut Child, grace: Duration) {
        // Gone from the API (force-deleted): nobody waits for a graceful stop, so kill at once.
        let grace = match self.latest() {
            None => Duration::ZERO,
            Some(p) => p
                .metadata
                .deletion_grace_period_seconds
                .map_or(grace, |s| Duration::from_secs(s.max(0).unsigned_abs())),
        };
        if let Some(pid) = child.id() {
            tracing::info!(pod = %self.name, pid, grace_s = grace.as_secs(), "stopping pod process");
            signal_group(pid, "TERM");
            if tokio::time::timeout(grace, child.wait()).await.is_err() {
                signal_group(pid, "KILL");
            }
        }
        let _ = child.kill().await;
        self.obs.pid = None;
    }

    /// Releases the IP and directory and removes the pod object (grace 0, only this incarnation by uid).
    async fn finalise(&mut self) {
        if let Some(ip) = self.ip.take() {
            self.ctx.ips.release(ip);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.latest().is_none() {
            return;
        }
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match self.pods.delete(&self.name, &params).await {
            Ok(_) => tracing::info!(pod = %self.name, "pod finalised"),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => tracing::warn!(pod = %self.name, error = %e, "finalising pod failed"),
        }
    }
}
