//! Pods Kubernetes cannot run as asked — refused by the API server, an image that does not pull, a container
//! that crash-loops or is OOM-killed, an eviction, no node to schedule on — become the `Degraded` condition,
//! naming the pod and Kubernetes' reason, and a Warning Event when the reason first appears. Never a silent
//! wait. The condition's reason comes from a bounded set; Kubernetes' own text stays in the message.

use super::context::Ctx;
use crate::reconcile::Severity;

/// The condition's reason for a Kubernetes reason not in [`KNOWN_REASONS`] (the set stays bounded).
const OTHER_REASON: &str = "PodNotRunning";

/// Kubernetes reasons passed through as the condition's reason; any other becomes [`OTHER_REASON`].
const KNOWN_REASONS: [&str; 15] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "CrashLoopBackOff",
    "OOMKilled",
    "Error",
    "ContainerStatusUnknown",
    "Unschedulable",
    "Evicted",
    "Preempting",
    "DeadlineExceeded",
];

/// The rejection the apply stage met, or else the first troubled live pod (by name: deterministic).
pub fn current(cx: &Ctx) -> Option<(&'static str, String)> {
    if let Some(r) = &cx.obs.rejected_pod {
        return Some((
            "PodRejected",
            format!(
                "the API server refused to create pod {} ({}): {}",
                r.pod, r.reason, r.message
            ),
        ));
    }
    let mut troubled: Vec<_> = cx
        .live_pods()
        .filter_map(|p| p.trouble.as_ref().map(|t| (p, t)))
        .collect();
    troubled.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let (pod, t) = troubled.first()?;
    let reason = KNOWN_REASONS
        .iter()
        .find(|k| **k == t.reason)
        .copied()
        .unwrap_or(OTHER_REASON);
    let mut message = format!("pod {}: {}", pod.name, t.reason);
    if !t.message.is_empty() {
        message.push_str(": ");
        message.push_str(&t.message);
    }
    if troubled.len() > 1 {
        message.push_str(&format!(" (and {} more pods)", troubled.len() - 1));
    }
    Some((reason, message))
}

/// A Warning Event when the job becomes degraded for a pod's reason it was not degraded for before. A
/// rejection is announced by the apply stage the moment it happens, so it gets no second Event here.
pub fn announce(cx: &mut Ctx, reason: &'static str, message: &str) {
    if reason == "PodRejected" {
        return;
    }
    let before = cx
        .obs
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded" && c.status == "True")
        .map(|c| c.reason.as_str());
    if before.map(family) != Some(family(reason)) {
        cx.event(Severity::Warning, reason, message.to_string());
    }
}

/// Reasons Kubernetes alternates between for one problem (a crash loop shows `Error`, then
/// `CrashLoopBackOff`, then `Error` again): one Event per problem, not one per flip. Each restart has its
/// own `WorkerRestarted` Event.
fn family(reason: &str) -> &str {
    match reason {
        "ErrImagePull" | "ImagePullBackOff" => "ImagePull",
        "Error" | "CrashLoopBackOff" | "OOMKilled" | "RunContainerError" => "Crash",
        other => other,
    }
}
