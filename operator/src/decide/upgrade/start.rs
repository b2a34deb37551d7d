//! Whether an upgrade starts, and its first step: a first deployment, a redeploy from a savepoint, a spec
//! change or a suspend (per `spec.upgradeMode`), or the restart that leaves FAILED.

use sluice_crds::{DesiredState, SavepointTrigger, UpgradeMode, UpgradeReason, UpgradeStep};

use super::{machine, redeploy};
use crate::decide::context::Ctx;
use crate::reconcile::{Action, Severity};

/// Starts an upgrade if one is needed. Returns false when the steady state should run instead.
pub fn maybe_start(cx: &mut Ctx) -> bool {
    let deployed = cx.st.deployed_hash.is_some();
    if cx.obs.spec.state == DesiredState::Suspended {
        if deployed && !cx.generation_blocked() {
            return start_stop(cx, UpgradeReason::Suspend);
        }
        return false;
    }
    if cx.target.is_err() {
        // Never roll out an invalid spec; whatever runs keeps running (conditions name the fields).
        return false;
    }
    if !deployed {
        let restore_from = match redeploy::requested(cx) {
            Some(path) => {
                redeploy::begin(cx, path.clone());
                Some(path)
            }
            None => resume_point(cx),
        };
        announce(cx, UpgradeReason::Initial, "PodsDeleted");
        machine::begin(
            cx,
            UpgradeReason::Initial,
            UpgradeStep::PodsDeleted { restore_from },
        );
        cx.requeue(1);
        return true;
    }
    if let Some(path) = redeploy::requested(cx) {
        start_redeploy(cx, path);
        return true;
    }
    if cx.spec_changed() && !cx.generation_blocked() {
        return start_stop(cx, UpgradeReason::SpecChange);
    }
    false
}

/// Redeploys the current spec from `path` without a savepoint of the running state (it is the state being
/// replaced): the pods go, the new ones start a new state lineage rooted at the savepoint.
fn start_redeploy(cx: &mut Ctx, path: String) {
    let step = redeploy::begin(cx, path);
    machine::begin(cx, UpgradeReason::Redeploy, step);
    cx.delete_live_pods();
    cx.requeue(2);
}

/// Leaving FAILED: redeploy the current spec from the latest checkpoints (the `Restart` upgrade). The
/// Event saying why was already published by `restarts::while_failed`.
pub fn restart_from_failed(cx: &mut Ctx) {
    if let Some(path) = redeploy::requested(cx) {
        start_redeploy(cx, path);
        return;
    }
    let restore_from = cx.st.restored_from.clone();
    machine::begin(
        cx,
        UpgradeReason::Restart,
        UpgradeStep::PodsDeleted { restore_from },
    );
    cx.requeue(2);
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

fn announce(cx: &mut Ctx, reason: UpgradeReason, first_step: &str) {
    let event = match reason {
        UpgradeReason::Initial => "DeploymentStarted",
        UpgradeReason::SpecChange => "UpgradeStarted",
        UpgradeReason::Suspend => "SuspendStarted",
        UpgradeReason::Restart => "RestartStarted",
        UpgradeReason::Redeploy => "RedeployStarted",
    };
    let note = format!(
        "generation {} ({:?} mode): {first_step}",
        cx.obs.generation, cx.obs.spec.upgrade_mode
    );
    cx.event(Severity::Normal, event, note);
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
            let savepoint_id = format!("sp-g{}-{}", cx.obs.generation, cx.now_ms());
            let pods: Vec<String> = cx.deployed_pods().iter().map(|p| p.name.clone()).collect();
            announce(cx, reason, "SavepointRequested");
            let step = UpgradeStep::SavepointRequested {
                savepoint_id: savepoint_id.clone(),
                stopped: Vec::new(),
                location: None,
            };
            machine::begin(cx, reason, step);
            cx.act(Action::StopWithSavepoint { pods, savepoint_id });
            cx.requeue(5);
        }
        UpgradeMode::LastState | UpgradeMode::Stateless => {
            // No healthy workers needed: the new pods recover from the latest checkpoint (last-state) or
            // start without one (stateless).
            let restore_from = match cx.obs.spec.upgrade_mode {
                UpgradeMode::LastState => cx.st.restored_from.clone(),
                _ => None,
            };
            announce(cx, reason, "PodsDeleted");
            machine::begin(cx, reason, UpgradeStep::PodsDeleted { restore_from });
            cx.delete_live_pods();
            cx.requeue(2);
        }
    }
    true
}
