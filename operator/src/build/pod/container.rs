//! The worker container and the pod's security context: `sluice-worker <job config>`, its ports and
//! probes, a read-only root filesystem, no capabilities, and a pod that meets the `restricted` Pod Security
//! level.

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, HTTPGetAction, PodSecurityContext, Probe,
    SeccompProfile, SecurityContext, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_crds::StreamJobSpec;
use sluice_crds::control::{CONTROL_PORT, METRICS_PORT};

use super::volumes::CONFIG_DIR;
use crate::build::config_map::JOB_KEY;

/// The uid and gid the worker runs as unless the pod template says otherwise (non-root).
const WORKER_ID: i64 = 65532;

/// An httpGet probe of the control port: HTTPS when the control API serves TLS (the kubelet does not verify
/// the certificate; the operator does).
fn probe(path: &str, period: i32, tls: bool) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(i32::from(CONTROL_PORT)),
            scheme: tls.then(|| "HTTPS".to_string()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn port(name: &str, p: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: i32::from(p),
        ..ContainerPort::default()
    }
}

/// The worker container with `env` and `mounts`.
pub(super) fn container(
    spec: &StreamJobSpec,
    env: Vec<EnvVar>,
    mounts: Vec<VolumeMount>,
) -> Container {
    let tls = spec.control_tls.enabled();
    Container {
        name: super::WORKER_CONTAINER.into(),
        image: Some(spec.image.clone()),
        image_pull_policy: spec.image_pull_policy.map(|p| format!("{p:?}")),
        command: Some(vec![
            "sluice-worker".into(),
            format!("{CONFIG_DIR}/{JOB_KEY}"),
        ]),
        env: Some(env),
        ports: Some(vec![
            port("control", CONTROL_PORT),
            port("metrics", METRICS_PORT),
        ]),
        readiness_probe: Some(probe("/readyz", 5, tls)),
        liveness_probe: Some(Probe {
            initial_delay_seconds: Some(10),
            ..probe("/healthz", 10, tls)
        }),
        resources: spec.resources.clone(),
        volume_mounts: Some(mounts),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        // The worker writes its fatal error to the termination log; a crash without one still says why.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

/// The pod's security context: the pod template's `securityContext` with every field it leaves unset
/// taken from the defaults, which meet the `restricted` Pod Security level (non-root uid/gid 65532, the
/// runtime's default seccomp profile). Filling in rather than replacing keeps a user who sets only, say,
/// `fsGroup` inside `restricted`; a field the user sets explicitly is kept as given.
pub fn pod_security(user: Option<&PodSecurityContext>) -> PodSecurityContext {
    // No security context from the user: every field from the defaults.
    let mut ctx = user.cloned().unwrap_or_default();
    ctx.run_as_non_root = ctx.run_as_non_root.or(Some(true));
    ctx.run_as_user = ctx.run_as_user.or(Some(WORKER_ID));
    ctx.run_as_group = ctx.run_as_group.or(Some(WORKER_ID));
    ctx.fs_group = ctx.fs_group.or(Some(WORKER_ID));
    if ctx.seccomp_profile.is_none() {
        ctx.seccomp_profile = Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..SeccompProfile::default()
        });
    }
    ctx
}
