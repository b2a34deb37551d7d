//! The container's environment: `POD_IP` and `SLUICE_POD_ROOT` first, then each env var in order (a later
//! one replaces an earlier one of the same name), literal (mount paths rewritten), from a ConfigMap or Secret
//! key, or from a pod field.

use k8s_openapi::api::core::v1::{Container, EnvVarSource, Pod};

use super::paths::rewrite_paths;
use super::{PlanContext, Sources, spec_err};
use crate::node_agent::NodeAgentError;

pub(super) fn container_env(
    pod: &Pod,
    c: &Container,
    sources: &Sources,
    ctx: &PlanContext<'_>,
    mounts: &[String],
) -> Result<Vec<(String, String)>, NodeAgentError> {
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
            (Some(v), None) => Some(rewrite_paths(v, mounts, ctx.pod_root)),
            (None, None) => Some(String::new()),
        };
        if let Some(value) = value {
            env.retain(|(k, _)| k != &var.name);
            env.push((var.name.clone(), value));
        }
    }
    Ok(env)
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
