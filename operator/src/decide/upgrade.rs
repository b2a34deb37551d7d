//! The upgrade state machine (savepoint / last-state / stateless upgrades, suspend, rollback). Every edge is
//! listed in [`step`]; each reconcile takes at most one edge, and the new step is persisted in
//! `status.upgrade` *before* the actions it implies run, so a crash at any point resumes at the same step:
//!
//! ```text
//! (start, savepoint mode) ─► SavepointRequested{id} ─► SavepointTaken{location} ─► PodsDeleted{restoreFrom}
//! (start, last-state/stateless) ──────────────────────────────────────────────────► PodsDeleted{restoreFrom}
//! PodsDeleted ─► (suspend) done: SUSPENDED
//!             └► Deploying{restoreFrom, since} ─► done (RUNNING) | RollingBack ─► done (ROLLED_BACK) | FAILED
//! SavepointRequested ─► aborted (savepoint failed/timed out): the old spec keeps running, generation blocked
//! ```

use sluice_crds::control::{SnapshotState, WorkerPhase};
use sluice_crds::{
    BlockedGeneration, DesiredState, SavepointTrigger, UpgradeMode, UpgradeReason, UpgradeStatus,
    UpgradeStep,
};

use super::{Ctx, savepoints};
use crate::model::{Action, PodPhase, Severity};

/// Result of one worker's `POST /v1/stop`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopOutcome {
    Completed {
        pod: String,
        location: Option<String>,
    },
    Failed {
        pod: String,
        error: String,
    },
}

/// Starts an upgrade if one is needed. Returns false when the steady state should run instead.
pub fn maybe_start(cx: &mut Ctx) -> bool {
    let deployed = cx.st.deployed_hash.is_some();
    if cx.obs.spec.state == DesiredState::Suspended {
        if deployed && !cx.generation_blocked() {
            return start_stop(cx, UpgradeReason::Suspend);
        }
        return false;
    }
    if !cx.obs.problems.is_empty() {
        // Never roll out an invalid spec; whatever runs keeps running (conditions name the fields).
        return false;
    }
    if !deployed {
        let restore = resume_point(cx);
        begin(
            cx,
            UpgradeReason::Initial,
            UpgradeStep::PodsDeleted {
                restore_from: restore,
            },
        );
        cx.requeue(1);
        return true;
    }
    if cx.st.deployed_hash.as_deref() != Some(cx.target_hash.as_str()) && !cx.generation_blocked() {
        return start_stop(cx, UpgradeReason::SpecChange);
    }
    false
}

/// Where a (re)deployment from nothing restores from: the suspend savepoint if the job was suspended with
/// one, else `initialSavepointPath` when the job has no savepoint of its own.
fn resume_point(cx: &Ctx) -> Option<String> {
    match cx.st.savepoints.last() {
        Some(last) if last.trigger == SavepointTrigger::Suspend => Some(last.location.clone()),
        Some(_) => cx.st.restored_from.clone(),
        None => cx
            .st
            .restored_from
            .clone()
            .or_else(|| cx.obs.spec.initial_savepoint_path.clone()),
    }
}

fn begin(cx: &mut Ctx, reason: UpgradeReason, step: UpgradeStep) {
    cx.event(
        Severity::Normal,
        match reason {
            UpgradeReason::Initial => "DeploymentStarted",
            UpgradeReason::SpecChange => "UpgradeStarted",
            UpgradeReason::Suspend => "SuspendStarted",
            UpgradeReason::Restart => "RestartStarted",
        },
        format!(
            "generation {} ({:?} mode): {}",
            cx.obs.generation,
            cx.obs.spec.upgrade_mode,
            step.name()
        ),
    );
    cx.st.upgrade = Some(UpgradeStatus {
        reason,
        mode: cx.obs.spec.upgrade_mode,
        target_generation: cx.obs.generation,
        started_at: cx.now(),
        step,
    });
}

/// Stops the running deployment per the upgrade mode (spec change or suspend).
fn start_stop(cx: &mut Ctx, reason: UpgradeReason) -> bool {
    match cx.obs.spec.upgrade_mode {
        UpgradeMode::Savepoint => {
            if !cx.healthy() {
                cx.waiting = Some((
                    "WaitingForHealthyWorkers",
                    "a savepoint upgrade needs every worker ready and running; fix the job or use \
                     upgradeMode: last-state to upgrade a broken job"
                        .into(),
                ));
                return false;
            }
            let id = format!("sp-g{}-{}", cx.obs.generation, cx.now_ms());
            let pods: Vec<String> = cx.deployed_pods().iter().map(|p| p.name.clone()).collect();
            begin(
                cx,
                reason,
                UpgradeStep::SavepointRequested {
                    savepoint_id: id.clone(),
                    stopped: Vec::new(),
                    location: None,
                },
            );
            cx.act(Action::StopWithSavepoint {
                pods,
                savepoint_id: id,
            });
            cx.requeue(5);
        }
        UpgradeMode::LastState | UpgradeMode::Stateless => {
            // No healthy workers needed: the new pods recover from the latest checkpoint (last-state) or
            // start without one (stateless).
            let restore = match cx.obs.spec.upgrade_mode {
                UpgradeMode::LastState => cx.st.restored_from.clone(),
                _ => None,
            };
            begin(
                cx,
                reason,
                UpgradeStep::PodsDeleted {
                    restore_from: restore,
                },
            );
            let names = cx.live_pod_names();
            if !names.is_empty() {
                cx.act(Action::DeletePods(names));
            }
            cx.requeue(2);
        }
    }
    true
}

/// Takes at most one edge of the state machine for the in-flight upgrade `up`.
pub fn step(cx: &mut Ctx, up: UpgradeStatus) {
    match up.step.clone() {
        UpgradeStep::SavepointRequested {
            savepoint_id,
            stopped,
            location,
        } => savepoint_requested(cx, &up, &savepoint_id, &stopped, location),
        UpgradeStep::SavepointTaken { location } => {
            let names = cx.live_pod_names();
            if !names.is_empty() {
                cx.act(Action::DeletePods(names));
            }
            set_step(
                cx,
                UpgradeStep::PodsDeleted {
                    restore_from: location,
                },
            );
            cx.requeue(2);
        }
        UpgradeStep::PodsDeleted { restore_from } => {
            super::deploy::pods_deleted(cx, &up, restore_from)
        }
        UpgradeStep::Deploying {
            restore_from,
            since,
        } => super::deploy::deploying(cx, &up, restore_from, &since),
        UpgradeStep::RollingBack {
            restore_from,
            deployed,
            since,
        } => super::deploy::rolling_back(cx, restore_from, deployed, &since),
    }
}

pub fn set_step(cx: &mut Ctx, step: UpgradeStep) {
    if let Some(up) = cx.st.upgrade.as_mut() {
        up.step = step;
    }
}

fn savepoint_requested(
    cx: &mut Ctx,
    up: &UpgradeStatus,
    id: &str,
    stopped: &[String],
    mut location: Option<String>,
) {
    if cx.ms_since(&up.started_at) > cx.savepoint_timeout_ms() {
        let timeout = cx.obs.spec.savepoints.timeout;
        return abort(
            cx,
            up,
            format!("savepoint {id} did not complete within {timeout}"),
        );
    }
    let mut pending = Vec::new();
    let mut done = stopped.to_vec();
    for pod in cx.deployed_pods() {
        if stopped.contains(&pod.name) {
            continue;
        }
        let status = cx.obs.workers.get(&pod.name).and_then(|w| w.status());
        let sp = status
            .and_then(|s| s.last_savepoint.as_ref())
            .filter(|s| s.id == id);
        match (pod.phase, sp.map(|s| s.state)) {
            // Exit 0 after our stop request is the worker's "final commit and savepoint done".
            (PodPhase::Succeeded, _) | (_, Some(SnapshotState::Completed)) => {
                if location.is_none() {
                    location = sp.and_then(|s| s.location.clone());
                }
                done.push(pod.name.clone());
            }
            (_, Some(SnapshotState::Failed)) => {
                let why = sp.and_then(|s| s.error.clone()).unwrap_or_default();
                return abort(
                    cx,
                    up,
                    format!("worker {} failed savepoint {id}: {why}", pod.name),
                );
            }
            (PodPhase::Failed, _) => {
                return abort(
                    cx,
                    up,
                    format!(
                        "worker {} crashed during stop-with-savepoint {id}",
                        pod.name
                    ),
                );
            }
            _ => {
                let stopping = status.is_some_and(|s| {
                    matches!(s.phase, WorkerPhase::Stopping | WorkerPhase::Stopped)
                });
                if !stopping {
                    pending.push(pod.name.clone());
                }
            }
        }
    }
    let expected = cx.deployed_parallelism() as usize;
    if done.len() >= expected && expected > 0 {
        let Some(location) = location.or_else(|| derived_location(cx, id)) else {
            return abort(
                cx,
                up,
                format!(
                    "savepoint {id} completed but no worker reported its location and spec.job.state.checkpointStore is unset"
                ),
            );
        };
        let trigger = if up.reason == UpgradeReason::Suspend {
            SavepointTrigger::Suspend
        } else {
            SavepointTrigger::Upgrade
        };
        savepoints::record(cx, id, &location, trigger);
        set_step(
            cx,
            UpgradeStep::SavepointTaken {
                location: Some(location),
            },
        );
        cx.requeue(1);
        return;
    }
    let mut present: Vec<String> = cx.deployed_pods().iter().map(|p| p.name.clone()).collect();
    present.extend(stopped.iter().cloned());
    present.sort();
    present.dedup();
    if present.len() < expected {
        // A worker vanished mid-savepoint: its part of the savepoint can never complete.
        let missing = expected - present.len();
        return abort(
            cx,
            up,
            format!("{missing} worker pod(s) disappeared during savepoint {id}"),
        );
    }
    if let Some(UpgradeStep::SavepointRequested {
        stopped: s,
        location: l,
        ..
    }) = cx.st.upgrade.as_mut().map(|u| &mut u.step)
    {
        *s = done;
        *l = location;
    }
    if !pending.is_empty() {
        cx.act(Action::StopWithSavepoint {
            pods: pending,
            savepoint_id: id.to_string(),
        });
    }
    cx.requeue(5);
}

/// The savepoint directory the worker writes, per the control API contract:
/// `<checkpointStore>/<transactionalIdPrefix>/savepoints/<id>`.
pub fn derived_location(cx: &Ctx, id: &str) -> Option<String> {
    let store = cx.obs.spec.job.state.checkpoint_store.as_deref()?;
    Some(format!(
        "{}/{}/savepoints/{id}",
        store.trim_end_matches('/'),
        cx.obs.spec.job.transactional_id_prefix
    ))
}

/// The savepoint failed: forget the upgrade, block its generation, keep (or bring back) the old spec.
fn abort(cx: &mut Ctx, up: &UpgradeStatus, message: String) {
    cx.event(
        Severity::Warning,
        "SavepointFailed",
        format!(
            "{message}; the job keeps running generation {}'s predecessor",
            up.target_generation
        ),
    );
    cx.st.blocked_generation = Some(BlockedGeneration {
        generation: up.target_generation,
        reason: "SavepointFailed".into(),
        message: format!(
            "{message}; the previous spec keeps running. Change the spec (or bump restartNonce) to retry"
        ),
    });
    cx.st.upgrade = None;
    cx.requeue(1);
}

/// Applies the answers of `POST /v1/stop` to a persisted `SavepointRequested` step (pure; the apply stage
/// persists the result). A failure is recorded as the worker's savepoint error by aborting on next decide;
/// here it simply is not marked stopped.
pub fn record_stop_outcomes(up: &mut UpgradeStatus, outcomes: &[StopOutcome]) -> Vec<String> {
    let mut failures = Vec::new();
    if let UpgradeStep::SavepointRequested {
        stopped, location, ..
    } = &mut up.step
    {
        for o in outcomes {
            match o {
                StopOutcome::Completed { pod, location: l } => {
                    if !stopped.contains(pod) {
                        stopped.push(pod.clone());
                    }
                    if location.is_none() {
                        location.clone_from(l);
                    }
                }
                StopOutcome::Failed { pod, error } => failures.push(format!("{pod}: {error}")),
            }
        }
    }
    failures
}

/// Folds the answers of the stop calls into the persisted status (pure). A definite failure of any worker
/// aborts the upgrade exactly like a failed savepoint seen in a worker's status; returns that message.
pub fn after_stop(
    st: &mut sluice_crds::StreamJobStatus,
    outcomes: &[StopOutcome],
) -> Option<String> {
    let up = st.upgrade.as_mut()?;
    let failures = record_stop_outcomes(up, outcomes);
    if failures.is_empty() {
        return None;
    }
    let UpgradeStep::SavepointRequested { savepoint_id, .. } = &up.step else {
        return None;
    };
    let message = format!(
        "stop-with-savepoint {savepoint_id} failed: {}",
        failures.join("; ")
    );
    st.blocked_generation = Some(BlockedGeneration {
        generation: up.target_generation,
        reason: "SavepointFailed".into(),
        message: format!(
            "{message}; the previous spec keeps running. Change the spec (or bump restartNonce) to retry"
        ),
    });
    st.upgrade = None;
    Some(message)
}
