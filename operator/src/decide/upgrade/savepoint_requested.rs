//! `SavepointRequested`: stop-with-savepoint `id` was asked of every worker. Each reconcile folds in what
//! came back — the stop calls' answers ([`Observed::stop_outcomes`]), the workers' reported savepoints,
//! pods that exited 0 — and asks again those that have not started stopping. Done when every worker
//! stopped with it (`SavepointTaken`); a failure, a crash, a vanished worker or `savepoints.timeout`
//! aborts the upgrade and blocks its generation.
//!
//! [`Observed::stop_outcomes`]: crate::reconcile::Observed::stop_outcomes

use sluice_crds::control::{SnapshotState, WorkerPhase};
use sluice_crds::{SavepointTrigger, UpgradeReason, UpgradeStatus, UpgradeStep};

use super::machine::{End, Transition};
use crate::decide::context::Ctx;
use crate::decide::savepoints::{self, derived_location};
use crate::reconcile::{Action, ObservedPod, PodPhase, StopOutcome};

/// The step's fields as persisted.
pub struct Requested<'s> {
    pub id: &'s str,
    pub stopped: &'s [String],
    pub location: Option<String>,
}

/// Where the workers are with the savepoint, gathered from this reconcile's observations.
struct Progress {
    /// Workers that stopped with the savepoint.
    done: Vec<String>,
    /// Workers to ask (again): not stopped and not stopping.
    ask: Vec<String>,
    location: Option<String>,
}

pub fn decide(cx: &mut Ctx, up: &UpgradeStatus, req: Requested<'_>) -> Transition {
    let id = req.id;
    if cx.ms_since(&up.started_at) > cx.savepoint_timeout_ms() {
        let timeout = cx.obs.spec.savepoints.timeout;
        return abort(format!("savepoint {id} did not complete within {timeout}"));
    }
    let deployed = cx.deployed_pods();
    let progress = match gather(cx, &req, &deployed) {
        Ok(p) => p,
        Err(message) => return abort(message),
    };
    let expected = cx.deployed_parallelism() as usize;
    if progress.done.len() >= expected && expected > 0 {
        return taken(cx, up, id, progress.location);
    }
    let mut present: Vec<String> = deployed.iter().map(|p| p.name.clone()).collect();
    present.extend(req.stopped.iter().cloned());
    present.sort();
    present.dedup();
    if present.len() < expected {
        // A worker vanished mid-savepoint: its part of the savepoint can never complete.
        let missing = expected - present.len();
        return abort(format!(
            "{missing} worker pod(s) disappeared during savepoint {id}"
        ));
    }
    if !progress.ask.is_empty() {
        cx.act(Action::StopWithSavepoint {
            pods: progress.ask,
            savepoint_id: id.to_string(),
        });
    }
    cx.requeue(5);
    Transition::To(UpgradeStep::SavepointRequested {
        savepoint_id: id.to_string(),
        stopped: progress.done,
        location: progress.location,
    })
}

fn abort(message: String) -> Transition {
    Transition::End(End::SavepointFailed(message))
}

/// Folds the stop calls' answers and the state of every `deployed` worker into the step's progress; `Err`
/// names the definite failure that aborts the upgrade.
fn gather(cx: &Ctx, req: &Requested<'_>, deployed: &[&ObservedPod]) -> Result<Progress, String> {
    let mut progress = Progress {
        done: req.stopped.to_vec(),
        ask: Vec::new(),
        location: req.location.clone(),
    };
    let outcomes: Vec<&StopOutcome> = cx
        .obs
        .stop_outcomes
        .iter()
        .filter(|o| o.savepoint_id() == req.id)
        .collect();
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            StopOutcome::Failed { pod, error, .. } => Some(format!("{pod}: {error}")),
            StopOutcome::Completed { .. } => None,
        })
        .collect();
    if !failures.is_empty() {
        return Err(format!(
            "stop-with-savepoint {} failed: {}",
            req.id,
            failures.join("; ")
        ));
    }
    for o in outcomes {
        if let StopOutcome::Completed { pod, location, .. } = o {
            progress.stopped(pod, location.as_ref());
        }
    }
    for pod in deployed {
        if !progress.done.contains(&pod.name) {
            worker(cx, pod, req.id, &mut progress)?;
        }
    }
    Ok(progress)
}

impl Progress {
    fn stopped(&mut self, pod: &str, location: Option<&String>) {
        if !self.done.iter().any(|d| d == pod) {
            self.done.push(pod.to_string());
        }
        if self.location.is_none() {
            self.location = location.cloned();
        }
    }
}

/// One worker that has not confirmed the stop yet.
fn worker(cx: &Ctx, pod: &ObservedPod, id: &str, progress: &mut Progress) -> Result<(), String> {
    let status = cx.obs.workers.get(&pod.name).and_then(|w| w.status());
    let savepoint = status
        .and_then(|s| s.last_savepoint.as_ref())
        .filter(|s| s.id == id);
    match (pod.phase, savepoint.map(|s| s.state)) {
        // Exit 0 after our stop request is the worker's "final commit and savepoint done".
        (PodPhase::Succeeded, _) | (_, Some(SnapshotState::Completed)) => {
            progress.stopped(&pod.name, savepoint.and_then(|s| s.location.as_ref()));
        }
        (_, Some(SnapshotState::Failed)) => {
            let why = savepoint.and_then(|s| s.error.clone()).unwrap_or_default();
            return Err(format!("worker {} failed savepoint {id}: {why}", pod.name));
        }
        (PodPhase::Failed, _) => {
            return Err(format!(
                "worker {} crashed during stop-with-savepoint {id}",
                pod.name
            ));
        }
        _ => {
            let stopping = status
                .is_some_and(|s| matches!(s.phase, WorkerPhase::Stopping | WorkerPhase::Stopped));
            if !stopping {
                progress.ask.push(pod.name.clone());
            }
        }
    }
    Ok(())
}

/// Every worker stopped: record the savepoint and restore from it.
fn taken(cx: &mut Ctx, up: &UpgradeStatus, id: &str, location: Option<String>) -> Transition {
    let Some(location) = location.or_else(|| derived_location(cx, id)) else {
        return abort(format!(
            "savepoint {id} completed but no worker reported its location and spec.job.state.checkpointStore is unset"
        ));
    };
    let trigger = if up.reason == UpgradeReason::Suspend {
        SavepointTrigger::Suspend
    } else {
        SavepointTrigger::Upgrade
    };
    savepoints::record(cx, id, &location, trigger);
    cx.requeue(1);
    Transition::To(UpgradeStep::SavepointTaken {
        location: Some(location),
    })
}
