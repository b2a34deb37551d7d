//! What Kubernetes says is wrong with a worker pod, read from its status: a container stuck waiting (image
//! pull, config, crash loop), a container that ended badly, an eviction, or a pod the scheduler cannot place.
//! Pure functions of the Pod object, so the reasons a user sees in the StreamJob are unit-tested here.

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod, PodCondition};

use crate::build::pod::WORKER_CONTAINER;
use crate::reconcile::{PodPhase, PodTrouble};

/// Waiting reasons of a container that is on its way up: not trouble.
const STARTING: [&str; 2] = ["ContainerCreating", "PodInitializing"];

/// The first thing wrong with `pod`, most decisive first: a failed pod's own reason (an eviction), a
/// container stuck waiting, a container that ended with an error, then the scheduler's verdict.
pub fn trouble(pod: &Pod) -> Option<PodTrouble> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() == Some("Failed")
        && let Some(reason) = &status.reason
    {
        return Some(PodTrouble {
            reason: reason.clone(),
            message: status.message.clone().unwrap_or_default(),
        });
    }
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for c in containers.clone() {
        if let Some(t) = waiting_trouble(c) {
            return Some(t);
        }
    }
    for c in containers {
        if let Some(t) = c.state.as_ref().and_then(|s| s.terminated.as_ref())
            && t.exit_code != 0
        {
            return Some(PodTrouble {
                reason: t.reason.clone().unwrap_or_else(|| "Error".into()),
                message: format!("container {}: {}", c.name, termination_text(t)),
            });
        }
    }
    condition(pod, "PodScheduled", "False").map(|c| PodTrouble {
        reason: c.reason.clone().unwrap_or_else(|| "Unschedulable".into()),
        message: c.message.clone().unwrap_or_default(),
    })
}

fn waiting_trouble(c: &ContainerStatus) -> Option<PodTrouble> {
    let waiting = c.state.as_ref()?.waiting.as_ref()?;
    let reason = waiting.reason.as_deref()?;
    if STARTING.contains(&reason) {
        return None;
    }
    let mut message = format!("container {}", c.name);
    if let Some(m) = waiting.message.as_deref().filter(|m| !m.is_empty()) {
        message.push_str(": ");
        message.push_str(m);
    }
    // A crash loop's own message says only "back-off restarting": the last exit says why.
    if let Some(last) = last_terminated(c) {
        message.push_str(&format!("; last exit: {}", termination_text(last)));
    }
    Some(PodTrouble {
        reason: reason.to_string(),
        message,
    })
}

fn last_terminated(c: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    c.last_state.as_ref()?.terminated.as_ref()
}

/// `OOMKilled (exit code 137)`, with the container's termination message (its fatal error) when it wrote one.
fn termination_text(t: &ContainerStateTerminated) -> String {
    let mut text = format!(
        "{} (exit code {})",
        t.reason.as_deref().unwrap_or("Error"),
        t.exit_code
    );
    if let Some(m) = t
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        text.push_str(": ");
        text.push_str(m);
    }
    text
}

/// How the pod's containers last ended (the most recent restart's cause), if any ended.
pub fn last_termination(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    status
        .container_statuses
        .iter()
        .flatten()
        .find_map(|c| last_terminated(c).map(termination_text))
}

/// The pod's condition `type_` when it has `status` (`"True"`, `"False"`).
pub fn condition<'p>(pod: &'p Pod, type_: &str, status: &str) -> Option<&'p PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_ && c.status == status)
}

/// The reason of the pod's `DisruptionTarget` condition: Kubernetes is taking the pod on purpose (an
/// eviction through the Eviction API, preemption, a node shutdown, a taint), not because it failed.
pub fn disruption(pod: &Pod) -> Option<String> {
    condition(pod, "DisruptionTarget", "True").map(|c| {
        c.reason
            .clone()
            .unwrap_or_else(|| "DisruptionTarget".into())
    })
}

/// The pod's phase as far as the worker goes: a worker container that exited 0 (after stop-with-savepoint;
/// `restartPolicy: OnFailure` never restarts it) is done even while a plain sidecar keeps the pod Running.
pub fn worker_phase(pod: &Pod) -> PodPhase {
    let status = pod.status.as_ref();
    let phase = PodPhase::parse(status.and_then(|s| s.phase.as_deref()));
    let worker_exited_0 = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.name == WORKER_CONTAINER)
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref())
        .any(|t| t.exit_code == 0);
    if phase == PodPhase::Running && worker_exited_0 {
        PodPhase::Succeeded
    } else {
        phase
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "job-worker-0"},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_running_pod_has_no_trouble() {
        let p = pod(serde_json::json!({
            "phase": "Running",
            "containerStatuses": [{"name": "worker", "image": "w", "imageID": "", "ready": true,
                "restartCount": 0, "state": {"running": {}}}],
        }));
        assert_eq!(trouble(&p), None);
        assert_eq!(last_termination(&p), None);
    }

    #[test]
    fn a_pod_still_creating_its_container_has_no_trouble() {
        let p = pod(serde_json::json!({
            "phase": "Pending",
            "containerStatuses": [{"name": "worker", "image": "w", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}],
        }));
        assert_eq!(trouble(&p), None);
    }

    #[test]
    fn an_image_pull_failure_names_the_reason_and_the_message() {
        let p = pod(serde_json::json!({
            "phase": "Pending",
            "containerStatuses": [{"name": "worker", "image": "w:bad", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff",
                "message": "Back-off pulling image \"w:bad\""}}}],
        }));
        let t = trouble(&p).unwrap();
        assert_eq!(t.reason, "ImagePullBackOff");
        assert_eq!(
            t.message,
            "container worker: Back-off pulling image \"w:bad\""
        );
    }

    #[test]
    fn a_crash_loop_says_how_the_container_last_ended() {
        let p = pod(serde_json::json!({
            "phase": "Running",
            "containerStatuses": [{"name": "worker", "image": "w", "imageID": "", "ready": false,
                "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}],
        }));
        let t = trouble(&p).unwrap();
        assert_eq!(t.reason, "CrashLoopBackOff");
        assert_eq!(
            t.message,
            "container worker: back-off 40s restarting; last exit: OOMKilled (exit code 137)"
        );
        assert_eq!(last_termination(&p).unwrap(), "OOMKilled (exit code 137)");
    }

    #[test]
    fn a_termination_message_is_quoted() {
        let p = pod(serde_json::json!({
            "phase": "Running",
            "containerStatuses": [{"name": "worker", "image": "w", "imageID": "", "ready": false,
                "restartCount": 1, "state": {"terminated": {"exitCode": 2, "reason": "Error",
                "message": "config: job.kafka is missing\n"}}}],
        }));
        let t = trouble(&p).unwrap();
        assert_eq!(t.reason, "Error");
        assert_eq!(
            t.message,
            "container worker: Error (exit code 2): config: job.kafka is missing"
        );
    }

    #[test]
    fn an_eviction_is_the_pods_own_reason() {
        let p = pod(serde_json::json!({
            "phase": "Failed", "reason": "Evicted",
            "message": "The node was low on resource: memory.",
        }));
        let t = trouble(&p).unwrap();
        assert_eq!(t.reason, "Evicted");
        assert_eq!(t.message, "The node was low on resource: memory.");
    }

    #[test]
    fn an_evicted_pod_names_its_disruption() {
        let p = pod(serde_json::json!({
            "phase": "Running",
            "conditions": [{"type": "DisruptionTarget", "status": "True",
                "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"}],
        }));
        assert_eq!(disruption(&p).as_deref(), Some("EvictionByEvictionAPI"));
        let running = pod(serde_json::json!({"phase": "Running"}));
        assert_eq!(disruption(&running), None);
    }

    #[test]
    fn an_unschedulable_pod_carries_the_schedulers_message() {
        let p = pod(serde_json::json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient memory."}],
        }));
        let t = trouble(&p).unwrap();
        assert_eq!(t.reason, "Unschedulable");
        assert_eq!(t.message, "0/1 nodes are available: 1 Insufficient memory.");
    }

    #[test]
    fn a_worker_that_exited_0_beside_a_running_sidecar_is_done() {
        let statuses = |worker_state: serde_json::Value| {
            pod(serde_json::json!({
                "phase": "Running",
                "containerStatuses": [
                    {"name": "worker", "image": "w", "imageID": "", "ready": false, "restartCount": 0,
                     "state": worker_state},
                    {"name": "shipper", "image": "s", "imageID": "", "ready": true, "restartCount": 0,
                     "state": {"running": {}}}],
            }))
        };
        let exited_0 =
            statuses(serde_json::json!({"terminated": {"exitCode": 0, "reason": "Completed"}}));
        assert_eq!(worker_phase(&exited_0), PodPhase::Succeeded);
        let crashed =
            statuses(serde_json::json!({"terminated": {"exitCode": 1, "reason": "Error"}}));
        assert_eq!(worker_phase(&crashed), PodPhase::Running);
        assert_eq!(
            worker_phase(&statuses(serde_json::json!({"running": {}}))),
            PodPhase::Running
        );
    }
}
