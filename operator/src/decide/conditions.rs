//! Lifecycle state and the `Ready` / `Progressing` / `Degraded` conditions, derived from the decided status.
//! A condition's `lastTransitionTime` changes only when its `status` changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use sluice_crds::{DesiredState, LifecycleState, UpgradeReason, UpgradeStep};

use super::context::Ctx;
use super::pod_trouble;
use crate::saturating;

/// Sets lifecycle and conditions from the decided status.
pub fn update(cx: &mut Ctx) {
    let lifecycle = lifecycle(cx);
    cx.st.lifecycle_state = Some(lifecycle);

    let ready = matches!(
        lifecycle,
        LifecycleState::Running | LifecycleState::Stable | LifecycleState::RolledBack
    ) && cx.all_ready();
    let (r_reason, r_msg) = if ready {
        (
            "AllWorkersReady",
            format!("{} workers ready", cx.deployed_parallelism()),
        )
    } else if lifecycle == LifecycleState::Suspended {
        ("Suspended", "spec.state is suspended".to_string())
    } else {
        ("WorkersNotReady", format!("lifecycle {lifecycle:?}"))
    };
    set(cx, "Ready", ready, r_reason, r_msg);

    let (p_status, p_reason, p_msg) = match (&cx.st.upgrade, &cx.waiting) {
        (Some(up), _) => (
            true,
            up.step.name(),
            format!(
                "{:?} of generation {} ({:?} mode)",
                up.reason, up.target_generation, up.mode
            ),
        ),
        (None, Some((reason, msg))) => (false, *reason, msg.clone()),
        (None, None) => (false, "Idle", "nothing to roll out".to_string()),
    };
    set(cx, "Progressing", p_status, p_reason, p_msg);

    let pod_trouble = pod_trouble::current(cx);
    let degraded = if let Some(f) = &cx.st.restarts.failure {
        Some(("RestartLimitExceeded", f.clone()))
    } else if let Err(problems) = &cx.target {
        let all: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        Some(("InvalidSpec", all.join("; ")))
    } else if let Some((reason, msg)) = pod_trouble {
        pod_trouble::announce(cx, reason, &msg);
        Some((reason, msg))
    } else if let Some((reason, msg)) = &cx.degraded {
        Some((*reason, msg.clone()))
    } else if let Some(b) = cx
        .st
        .blocked_generation
        .as_ref()
        .filter(|b| b.generation == cx.obs.generation)
    {
        Some((
            if b.reason == "RolledBack" {
                "RolledBack"
            } else {
                "SavepointFailed"
            },
            b.message.clone(),
        ))
    } else {
        None
    };
    match degraded {
        Some((reason, msg)) => set(cx, "Degraded", true, reason, msg),
        None => set(
            cx,
            "Degraded",
            false,
            "AsExpected",
            "no problem detected".into(),
        ),
    }
}

fn lifecycle(cx: &Ctx) -> LifecycleState {
    if cx.st.restarts.failure.is_some() {
        return LifecycleState::Failed;
    }
    if let Some(up) = &cx.st.upgrade {
        return match (&up.step, up.reason) {
            (UpgradeStep::RollingBack { .. }, _) => LifecycleState::RollingBack,
            (_, UpgradeReason::Initial) => LifecycleState::Deploying,
            _ => LifecycleState::Upgrading,
        };
    }
    if cx.st.deployed_hash.is_none() {
        return if cx.obs.spec.state == DesiredState::Suspended
            && cx.st.last_reconciled_spec.is_some()
        {
            LifecycleState::Suspended
        } else {
            LifecycleState::Created
        };
    }
    if !cx.all_ready() {
        return LifecycleState::Deploying;
    }
    let rolled_back = cx
        .st
        .blocked_generation
        .as_ref()
        .is_some_and(|b| b.generation == cx.obs.generation && b.reason == "RolledBack");
    if rolled_back {
        return LifecycleState::RolledBack;
    }
    if cx.st.last_stable_spec.is_some() && cx.st.last_stable_spec == cx.st.last_reconciled_spec {
        let stable_after = saturating::millis(cx.obs.spec.rollback.stable_after);
        if cx
            .st
            .ready_since
            .as_ref()
            .is_some_and(|t| cx.ms_since(t) >= stable_after)
        {
            return LifecycleState::Stable;
        }
    }
    LifecycleState::Running
}

/// Upserts condition `type_`, keeping `lastTransitionTime` unless the status flips.
fn set(cx: &mut Ctx, type_: &str, status: bool, reason: &str, message: String) {
    let now = cx.now();
    let generation = Some(cx.obs.generation);
    upsert(
        &mut cx.st.conditions,
        type_,
        status,
        reason,
        message,
        now,
        generation,
    );
}

/// Upserts condition `type_` in `conds`; `lastTransitionTime` becomes `now` only when the status flips (or
/// the condition is new), so a condition that keeps its status never churns.
pub fn upsert(
    conds: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    now: Time,
    generation: Option<i64>,
) {
    let status_s = if status { "True" } else { "False" };
    match conds.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status_s {
                c.last_transition_time = now;
                c.status = status_s.to_string();
            }
            c.reason = reason.to_string();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conds.push(Condition {
            type_: type_.to_string(),
            status: status_s.to_string(),
            reason: reason.to_string(),
            message,
            last_transition_time: now,
            observed_generation: generation,
        }),
    }
}
