//! Pure translation of a pod into a local process launch: program and arguments, environment, the files of its
//! ConfigMap/Secret volumes, its readiness probe and restart policy. No I/O: the ConfigMaps and Secrets the pod
//! references come in as [`Sources`].
//!
//! Paths: every volume is materialised under the pod's own directory, `$SLUICE_POD_ROOT`, at
//! `$SLUICE_POD_ROOT/<mountPath>`. So that unmodified programs find their files, any command word, argument or
//! literal env value that contains a mountPath (at the start or after `=`, `:`, `,` or a space; followed by the
//! end, `/`, `:`, `,` or a space) gets `$SLUICE_POD_ROOT` put in front of it: `--config=/etc/sluice/job.yaml` becomes
//! `--config=<pod root>/etc/sluice/job.yaml`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, EnvVarSource, KeyToPath, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::NodeAgentError;

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
    let rewrite = |s: &str| rewrite_paths(s, &mounts, ctx.pod_root);

    let command = c.command.clone().unwrap_or_default();
    let mapped = ctx
        .images
        .iter()
        .find(|m| image.contains(&m.image_contains));
    let (program, mut args) = match command.split_first() {
        Some((first, rest)) => (
            program_for(first, ctx.images),
            rest.iter().map(|a| rewrite(a)).collect(),
        ),
        None => match mapped {
            Some(m) => (m.binary.clone(), Vec::new()),
            None => {
                return Err(spec_err(format!(
                    "container {} has no command and image {image:?} maps to no local binary",
                    c.name
                )));
            }
        },
    };
    args.extend(c.args.iter().flatten().map(|a| rewrite(a)));

    let mut env = vec![
        ("POD_IP".to_string(), ctx.pod_ip.to_string()),
        (
            "SLUICE_POD_ROOT".to_string(),
            ctx.pod_root.display().to_string(),
        ),
    ];
    for var in c.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (_, Some(from)) => env_from_source(pod, from, sources, ctx)?,
            (Some(v), None) => Some(rewrite(v)),
            (None, None) => Some(String::new()),
        };
        if let Some(value) = value {
            env.retain(|(k, _)| k != &var.name);
            env.push((var.name.clone(), value));
        }
    }

    // Like the kubelet: `$(VAR)` in command and args expands to the container's env var VAR.
    let program = PathBuf::from(expand_vars(&program.display().to_string(), &env));
    let args = args.iter().map(|a| expand_vars(a, &env)).collect();
    let (files, dirs) = volumes(pod, c, sources, ctx.pod_root)?;
    let working_dir = match &c.working_dir {
        Some(dir) => under_root(ctx.pod_root, dir),
        None => ctx.pod_root.to_path_buf(),
    };
    let readiness = c
        .readiness_probe
        .as_ref()
        .map(|p| http_probe(p, c))
        .transpose()?;
    let restart_policy = match spec.restart_policy.as_deref() {
        Some("Never") => RestartPolicy::Never,
        Some("OnFailure") => RestartPolicy::OnFailure,
        _ => RestartPolicy::Always,
    };
    let grace_s = spec.termination_grace_period_seconds.unwrap_or(30).max(0);
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
        restart_policy,
        grace: Duration::from_secs(grace_s.unsigned_abs()),
    })
}

/// Replaces `$(NAME)` with the value of env var NAME when it is defined; `$$(NAME)` is a literal `$(NAME)`.
pub fn expand_vars(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
            continue;
        }
        let name = tail
            .strip_prefix("$(")
            .and_then(|t| t.find(')').map(|end| &t[..end]));
        match name.and_then(|n| env.iter().rev().find(|(k, _)| k == n).map(|(_, v)| (n, v))) {
            Some((n, value)) => {
                out.push_str(value);
                rest = &tail[n.len() + 3..];
            }
            None => {
                out.push('$');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `command[0]`: a mapped image binary when its file name matches, else the word itself (found on PATH).
fn program_for(word: &str, images: &[ImageMapping]) -> PathBuf {
    let base = Path::new(word).file_name();
    images
        .iter()
        .find(|m| base.is_some() && m.binary.file_name() == base)
        .map_or_else(|| PathBuf::from(word), |m| m.binary.clone())
}

fn env_from_source(
    pod: &Pod,
    from: &EnvVarSource,
    sources: &Sources,
    ctx: &PlanContext<'_>,
) -> Result<Option<String>, NodeAgentError> {
    if let Some(r) = &from.config_map_key_ref {
        let found = sources.config_maps.get(&r.name).and_then(|d| d.get(&r.key));
        return key_value(found, r.optional, "ConfigMap", &r.name, &r.key);
    }
    if let Some(r) = &from.secret_key_ref {
        let found = sources.secrets.get(&r.name).and_then(|d| d.get(&r.key));
        return key_value(found, r.optional, "Secret", &r.name, &r.key);
    }
    if let Some(f) = &from.field_ref {
        let meta = &pod.metadata;
        let value = match f.field_path.as_str() {
            "metadata.name" => meta.name.clone().unwrap_or_default(),
            "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
            "metadata.uid" => meta.uid.clone().unwrap_or_default(),
            "spec.nodeName" => ctx.node_name.to_string(),
            "status.podIP" => ctx.pod_ip.to_string(),
            "status.hostIP" => "127.0.0.1".to_string(),
            other => return Err(spec_err(format!("unsupported fieldRef {other}"))),
        };
        return Ok(Some(value));
    }
    Err(spec_err(
        "unsupported valueFrom (only configMapKeyRef, secretKeyRef, fieldRef)",
    ))
}

fn key_value(
    found: Option<&Vec<u8>>,
    optional: Option<bool>,
    kind: &str,
    name: &str,
    key: &str,
) -> Result<Option<String>, NodeAgentError> {
    match found {
        Some(bytes) => Ok(Some(String::from_utf8_lossy(bytes).into_owned())),
        None if optional == Some(true) => Ok(None),
        None => Err(spec_err(format!("{kind} {name} has no key {key}"))),
    }
}

type VolumeLayout = (Vec<(PathBuf, Vec<u8>)>, Vec<PathBuf>);

fn volumes(
    pod: &Pod,
    c: &Container,
    sources: &Sources,
    root: &Path,
) -> Result<VolumeLayout, NodeAgentError> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    let declared = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .map_or(&[][..], Vec::as_slice);
    for mount in c.volume_mounts.iter().flatten() {
        let vol = declared
            .iter()
            .find(|v| v.name == mount.name)
            .ok_or_else(|| spec_err(format!("volumeMount {} names no volume", mount.name)))?;
        let dir = under_root(root, &mount.mount_path);
        dirs.push(dir.clone());
        let (data, items, optional, what) = if let Some(cm) = &vol.config_map {
            (
                sources.config_maps.get(&cm.name),
                cm.items.as_ref(),
                cm.optional,
                format!("ConfigMap {}", cm.name),
            )
        } else if let Some(s) = &vol.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            (
                sources.secrets.get(&name),
                s.items.as_ref(),
                s.optional,
                format!("Secret {name}"),
            )
        } else if vol.empty_dir.is_some() {
            continue;
        } else {
            return Err(spec_err(format!(
                "volume {} is not a configMap, secret or emptyDir",
                vol.name
            )));
        };
        let Some(data) = data else {
            if optional == Some(true) {
                continue;
            }
            return Err(spec_err(format!("{what} not found")));
        };
        files.extend(volume_files(&dir, data, items, &what)?);
    }
    Ok((files, dirs))
}

fn volume_files(
    dir: &Path,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    what: &str,
) -> Result<Vec<(PathBuf, Vec<u8>)>, NodeAgentError> {
    let Some(items) = items else {
        return Ok(data.iter().map(|(k, v)| (dir.join(k), v.clone())).collect());
    };
    items
        .iter()
        .map(|item| {
            let bytes = data
                .get(&item.key)
                .ok_or_else(|| spec_err(format!("{what} has no key {}", item.key)))?;
            Ok((under_root(dir, &item.path), bytes.clone()))
        })
        .collect()
}

/// `root` + an absolute or relative in-container path (never escaping `root` through `..`).
fn under_root(root: &Path, path: &str) -> PathBuf {
    let mut out = root.to_path_buf();
    for part in path
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
    {
        out.push(part);
    }
    out
}

/// Prefixes every mountPath occurrence in `value` (see the module docs for the boundaries) with `root`.
pub fn rewrite_paths(value: &str, mounts: &[String], root: &Path) -> String {
    let root = root.display().to_string();
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    'scan: while i < value.len() {
        let at_boundary = i == 0
            || value[..i]
                .chars()
                .next_back()
                .is_some_and(|c| matches!(c, '=' | ':' | ',' | ' '));
        if at_boundary {
            for m in mounts {
                let m = m.trim_end_matches('/');
                if m.is_empty() || !value[i..].starts_with(m) {
                    continue;
                }
                let after = &value[i + m.len()..];
                if after.is_empty() || after.starts_with(['/', ',', ':', ' ']) {
                    out.push_str(&root);
                    out.push_str(m);
                    i += m.len();
                    continue 'scan;
                }
            }
        }
        let Some(ch) = value[i..].chars().next() else {
            break;
        };
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn http_probe(p: &Probe, c: &Container) -> Result<HttpProbe, NodeAgentError> {
    let get = p.http_get.as_ref().ok_or_else(|| {
        spec_err(format!(
            "container {}: only httpGet readiness probes are supported",
            c.name
        ))
    })?;
    let port = match &get.port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
    .ok_or_else(|| spec_err(format!("readiness probe port {:?} is invalid", get.port)))?;
    let secs = |v: Option<i32>, default: i32| {
        Duration::from_secs(u64::from(v.unwrap_or(default).max(0).unsigned_abs()))
    };
    let count = |v: Option<i32>, default: i32| v.unwrap_or(default).max(1).unsigned_abs();
    Ok(HttpProbe {
        host: get.host.clone(),
        port,
        path: get.path.clone().unwrap_or_else(|| "/".into()),
        initial_delay: secs(p.initial_delay_seconds, 0),
        period: secs(p.period_seconds, 10).max(Duration::from_millis(100)),
        timeout: secs(p.timeout_seconds, 1).max(Duration::from_millis(100)),
        failure_threshold: count(p.failure_threshold, 3),
        success_threshold: count(p.success_threshold, 1),
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
