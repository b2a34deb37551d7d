//! `RollingBack`: the target spec missed its readiness timeout. Remove its pods, install `lastStableSpec`
//! from the same restore point, and wait for it; if that misses the timeout too, the job is FAILED.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sluice_crds::UpgradeStep;

use super::machine::{End, Transition};
use crate::decide::context::Ctx;
use crate::decide::pods::{install, keep_pods};
use crate::decide::restarts;
use crate::reconcile::Deployment;

pub fn decide(
    cx: &mut Ctx,
    restore_from: Option<String>,
    deployed: bool,
    since: &Time,
) -> Transition {
    if !deployed {
        return deploy_stable(cx, restore_from);
    }
    if cx.all_ready() {
        return Transition::End(End::RolledBack);
    }
    keep_pods(cx, restore_from);
    if cx.past_readiness_timeout(since) {
        let reason = format!(
            "rollback to lastStableSpec not Ready within {}",
            cx.obs.spec.rollback.readiness_timeout
        );
        restarts::fail(cx, reason);
        return Transition::End(End::JobFailed);
    }
    cx.requeue(5);
    Transition::Stay
}

/// Once the failed deployment's pods are gone, installs `lastStableSpec`.
fn deploy_stable(cx: &mut Ctx, restore_from: Option<String>) -> Transition {
    if !cx.clear_pods() {
        return Transition::Stay;
    }
    let Some(stable) = cx.stable.clone() else {
        return Transition::End(End::NothingToRollBackTo);
    };
    let hash = cx.fingerprint_of(&stable);
    install(
        cx,
        Deployment {
            job: stable,
            hash,
            restore_from: restore_from.clone(),
            previous_parallelism: None,
            lineage: cx.st.lineage.clone(),
        },
    );
    cx.requeue(5);
    Transition::To(UpgradeStep::RollingBack {
        restore_from,
        deployed: true,
        since: cx.now(),
    })
}
