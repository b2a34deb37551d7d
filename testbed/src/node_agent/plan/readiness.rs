//! The container's readiness probe: only httpGet, with Kubernetes' defaults for the timings.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{HttpProbe, spec_err};
use crate::node_agent::NodeAgentError;

pub(super) fn http_probe(p: &Probe, c: &Container) -> Result<HttpProbe, NodeAgentError> {
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
        https: get.scheme.as_deref() == Some("HTTPS"),
        port,
        path: get.path.clone().unwrap_or_else(|| "/".into()),
        initial_delay: secs(p.initial_delay_seconds, 0),
        period: secs(p.period_seconds, 10).max(Duration::from_millis(100)),
        timeout: secs(p.timeout_seconds, 1).max(Duration::from_millis(100)),
        failure_threshold: count(p.failure_threshold, 3),
        success_threshold: count(p.success_threshold, 1),
    })
}
