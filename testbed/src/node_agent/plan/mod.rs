//! Pure translation of a pod into a local process launch: program and arguments, environment, the files of its
//! ConfigMap/Secret volumes, its readiness probe and restart policy. No I/O: the ConfigMaps and Secrets the pod
//! references come in as [`Sources`].
//!
//! - [`command`]: the program and its arguments, and the kubelet's `$(VAR)` expansion in them.
//! - [`env`]: the container's environment, literal or from ConfigMap/Secret keys and pod fields.
//! - [`volumes`]: the files and directories of ConfigMap, Secret and emptyDir volumes.
//! - [`paths`]: where in-container paths live under the pod's root directory.
//! - [`readiness`]: the httpGet readiness probe.

mod command;
mod env;
mod paths;
mod readiness;
mod volumes;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};

use super::NodeAgentError;
pub use command::expand_vars;
pub use paths::rewrite_paths;

/// Images whose name contains `image_contains` run `binary` (the image's entrypoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMapping {
    pub image_contains: String,
    pub binary: PathBuf,
}

/// Key → bytes of every ConfigMap (data and binaryData) and Secret the pod references, by object name.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub config_maps: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    pub secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

/// What the pod's restartPolicy says to do when the process exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn restarts_after(self, exit_ok: bool) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => !exit_ok,
            RestartPolicy::Never => false,
        }
    }
}

/// An httpGet readiness probe against the pod's IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbe {
    pub host: Option<String>,
    /// `scheme: HTTPS`: TLS without certificate verification, as the kubelet probes.
    pub https: bool,
    pub port: u16,
    pub path: String,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
}

/// Everything needed to start (and restart) the pod's process.
#[derive(Debug, Clone)]
pub struct LaunchPlan {
    pub container: String,
    pub image: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: PathBuf,
    /// Files to write (absolute paths under the pod root) and directories to create.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    pub dirs: Vec<PathBuf>,
    pub readiness: Option<HttpProbe>,
    pub restart_policy: RestartPolicy,
    pub grace: Duration,
}

/// The node-side facts a plan depends on.
#[derive(Debug, Clone)]
pub struct PlanContext<'a> {
    pub pod_root: &'a Path,
    pub pod_ip: Ipv4Addr,
    pub node_name: &'a str,
    pub images: &'a [ImageMapping],
}

fn spec_err(msg: impl Into<String>) -> NodeAgentError {
    NodeAgentError::Spec(msg.into())
}

/// The names of the ConfigMaps and Secrets the pod's first container and volumes reference.
pub fn referenced(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let mut cms = Vec::new();
    let mut secrets = Vec::new();
    let spec = pod.spec.as_ref();
    for var in first_container(pod)
        .and_then(|c| c.env.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(src) = &var.value_from {
            if let Some(r) = &src.config_map_key_ref {
                cms.push(r.name.clone());
            }
            if let Some(r) = &src.secret_key_ref {
                secrets.push(r.name.clone());
            }
        }
    }
    for vol in spec.and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        if let Some(cm) = &vol.config_map {
            cms.push(cm.name.clone());
        }
        if let Some(name) = vol.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secrets.push(name);
        }
    }
    cms.sort();
    cms.dedup();
    secrets.sort();
    secrets.dedup();
    (cms, secrets)
}

fn first_container(pod: &Pod) -> Option<&Container> {
    pod.spec.as_ref().and_then(|s| s.containers.first())
}

/// Builds the launch plan. Fails on a missing non-optional ConfigMap/Secret (key) or an unmapped program.
pub fn plan(
    pod: &Pod,
    sources: &Sources,
    ctx: &PlanContext<'_>,
) -> Result<LaunchPlan, NodeAgentError> {
    let spec = pod
        .spec
        .as_ref()
        .ok_or_else(|| spec_err("pod has no spec"))?;
    let c = first_container(pod).ok_or_else(|| spec_err("pod has no container"))?;
    let image = c.image.clone().unwrap_or_default();
    let mounts: Vec<String> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.clone())
        .collect();

    let (program, args) = command::command_line(c, &image, &mounts, ctx)?;
    let env = env::container_env(pod, c, sources, ctx, &mounts)?;

    // Like the kubelet: `$(VAR)` in command and args expands to the container's env var VAR.
    let program = PathBuf::from(expand_vars(&program.display().to_string(), &env));
    let args = args.iter().map(|a| expand_vars(a, &env)).collect();
    let (files, dirs) = volumes::volumes(pod, c, sources, ctx.pod_root)?;
    let working_dir = match &c.working_dir {
        Some(dir) => paths::under_root(ctx.pod_root, dir),
        None => ctx.pod_root.to_path_buf(),
    };
    let readiness = c
        .readiness_probe
        .as_ref()
        .map(|p| readiness::http_probe(p, c))
        .transpose()?;
    Ok(LaunchPlan {
        container: c.name.clone(),
        image,
        program,
        args,
        env,
        working_dir,
        files,
        dirs,
        readiness,
        restart_policy: restart_policy(spec),
        grace: grace(spec),
    })
}

fn restart_policy(spec: &PodSpec) -> RestartPolicy {
    match spec.restart_policy.as_deref() {
        Some("Never") => RestartPolicy::Never,
        Some("OnFailure") => RestartPolicy::OnFailure,
        _ => RestartPolicy::Always,
    }
}

/// terminationGracePeriodSeconds, 30 s when absent.
fn grace(spec: &PodSpec) -> Duration {
    let grace_s = spec.termination_grace_period_seconds.unwrap_or(30).max(0);
    Duration::from_secs(grace_s.unsigned_abs())
}

#[cfg(test)]
mod tests;
