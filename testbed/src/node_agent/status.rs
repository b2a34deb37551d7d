//! Pure construction of the pod status the agent reports (sent as a JSON merge patch of `/status`): phase,
//! conditions, pod IP and the first container's status, shaped like the kubelet's.

use std::net::Ipv4Addr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

/// The pod phase, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }
}

/// The container's current state.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Waiting {
        reason: String,
        message: String,
    },
    Running {
        started_at: Timestamp,
    },
    Terminated {
        exit_code: i32,
        started_at: Timestamp,
        finished_at: Timestamp,
    },
}

/// What the worker observed about its pod.
#[derive(Debug, Clone)]
pub struct Observed {
    pub phase: Phase,
    pub pod_ip: Option<Ipv4Addr>,
    pub start_time: Timestamp,
    pub container: String,
    pub image: String,
    pub state: State,
    pub last_state: Option<State>,
    pub ready: bool,
    pub restart_count: i32,
    pub pid: Option<u32>,
}

fn time(t: Timestamp) -> Value {
    serde_json::to_value(Time(t)).unwrap_or(Value::Null)
}

fn state_json(state: &State) -> Value {
    match state {
        State::Waiting { reason, message } => {
            json!({ "waiting": { "reason": reason, "message": message } })
        }
        State::Running { started_at } => json!({ "running": { "startedAt": time(*started_at) } }),
        State::Terminated {
            exit_code,
            started_at,
            finished_at,
        } => json!({ "terminated": {
            "exitCode": exit_code,
            "reason": if *exit_code == 0 { "Completed" } else { "Error" },
            "startedAt": time(*started_at),
            "finishedAt": time(*finished_at),
        } }),
    }
}

fn condition(kind: &str, ok: bool, now: Timestamp) -> Value {
    json!({
        "type": kind,
        "status": if ok { "True" } else { "False" },
        "lastTransitionTime": time(now),
    })
}

/// The `status` object for a merge patch. Condition transition times are `now`: the agent rewrites the whole
/// list on each change, which is precise enough for tests.
pub fn status_json(obs: &Observed, now: Timestamp) -> Value {
    let running = matches!(obs.state, State::Running { .. });
    let mut container = json!({
        "name": obs.container,
        "image": obs.image,
        "imageID": "",
        "ready": obs.ready,
        "started": running,
        "restartCount": obs.restart_count,
        "state": state_json(&obs.state),
    });
    if let Some(pid) = obs.pid {
        container["containerID"] = json!(format!("sluice-node-agent://{pid}"));
    }
    if let Some(last) = &obs.last_state {
        container["lastState"] = state_json(last);
    }
    let mut status = json!({
        "phase": obs.phase.as_str(),
        "hostIP": "127.0.0.1",
        "hostIPs": [ { "ip": "127.0.0.1" } ],
        "startTime": time(obs.start_time),
        "conditions": [
            condition("PodScheduled", true, now),
            condition("Initialized", true, now),
            condition("ContainersReady", obs.ready, now),
            condition("Ready", obs.ready, now),
        ],
        "containerStatuses": [ container ],
    });
    if let Some(ip) = obs.pod_ip {
        status["podIP"] = json!(ip.to_string());
        status["podIPs"] = json!([ { "ip": ip.to_string() } ]);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::{Observed, Phase, State, status_json};
    use k8s_openapi::api::core::v1::PodStatus;
    use k8s_openapi::jiff::Timestamp;
    use std::net::Ipv4Addr;

    #[test]
    fn status_deserializes_as_a_pod_status() {
        let now = Timestamp::now();
        let obs = Observed {
            phase: Phase::Running,
            pod_ip: Some(Ipv4Addr::new(127, 0, 0, 9)),
            start_time: now,
            container: "c".into(),
            image: "i".into(),
            state: State::Running { started_at: now },
            last_state: Some(State::Terminated {
                exit_code: 1,
                started_at: now,
                finished_at: now,
            }),
            ready: true,
            restart_count: 2,
            pid: Some(42),
        };
        let status: PodStatus = serde_json::from_value(status_json(&obs, now)).unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert_eq!(status.pod_ip.as_deref(), Some("127.0.0.9"));
        let c = &status.container_statuses.unwrap()[0];
        assert_eq!((c.ready, c.restart_count), (true, 2));
        let ready = status.conditions.unwrap();
        assert!(
            ready
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        );
    }
}
