//! `Deploying`: the target spec's pods exist. Done when all are Ready; retargeted when the spec changed
//! again before that; past `rollback.readinessTimeout`, rolled back to `lastStableSpec` when possible (else
//! reported Degraded, and judged by the restart budget — see `decide::counts_restarts`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sluice_crds::{BlockedGeneration, DesiredState, UpgradeStatus, UpgradeStep};

use super::machine::{End, Transition};
use crate::decide::context::Ctx;
use crate::decide::pod_trouble;
use crate::decide::pods::{keep_pods, rollback_possible};
use crate::reconcile::Severity;

pub fn decide(
    cx: &mut Ctx,
    up: &UpgradeStatus,
    restore_from: Option<String>,
    since: &Time,
) -> Transition {
    if let Some(path) = super::redeploy::requested(cx) {
        // A redeploy replaces a deployment that is not Ready yet (e.g. one from a wrong savepoint).
        let step = super::redeploy::begin(cx, path);
        cx.delete_live_pods();
        cx.requeue(2);
        return Transition::Retarget(step);
    }
    if respec_wanted(cx) {
        // No savepoint is possible from workers that never got Ready, so redeploy the new spec from the
        // same restore point.
        let note = format!(
            "generation {} replaces {} before it got Ready",
            cx.obs.generation, up.target_generation
        );
        cx.event(Severity::Normal, "UpgradeRetargeted", note);
        cx.delete_live_pods();
        cx.requeue(2);
        return Transition::Retarget(UpgradeStep::PodsDeleted { restore_from });
    }
    if cx.all_ready() {
        return Transition::End(End::Ready);
    }
    keep_pods(cx, restore_from.clone());
    if !cx.past_readiness_timeout(since) {
        cx.requeue(5);
        return Transition::Stay;
    }
    // What Kubernetes said about the pods that did not become Ready, so the user need not find them.
    let why = pod_trouble::current(cx)
        .map(|(_, m)| format!(" ({m})"))
        .unwrap_or_default();
    let timeout = cx.obs.spec.rollback.readiness_timeout;
    if !rollback_possible(cx) {
        cx.degraded = Some((
            "NotReady",
            format!(
                "workers not Ready within {timeout}{why} and no rollback possible (rollback disabled or no lastStableSpec)"
            ),
        ));
        cx.requeue(30);
        return Transition::Stay;
    }
    cx.event(
        Severity::Warning,
        "RollbackStarted",
        format!(
            "generation {} not Ready within {timeout}{why}; redeploying lastStableSpec from {}",
            up.target_generation,
            restore_from.as_deref().unwrap_or("its latest checkpoints")
        ),
    );
    cx.st.blocked_generation = Some(BlockedGeneration {
        generation: up.target_generation,
        reason: "RolledBack".into(),
        message: format!(
            "not Ready within {timeout}{why}; rolled back to lastStableSpec. Change the spec to retry"
        ),
    });
    cx.delete_live_pods();
    cx.requeue(2);
    Transition::To(UpgradeStep::RollingBack {
        restore_from,
        deployed: false,
        since: cx.now(),
    })
}

/// The spec changed again (and may be rolled out) while this deployment is not Ready yet.
fn respec_wanted(cx: &Ctx) -> bool {
    cx.spec_changed() && !cx.generation_blocked() && cx.obs.spec.state == DesiredState::Running
}
