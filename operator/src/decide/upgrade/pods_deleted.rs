//! `PodsDeleted`: wait until no old pod is left, then end a suspend, or install the target spec's
//! deployment and wait for it (`Deploying`).

use sluice_crds::{UpgradeReason, UpgradeStatus, UpgradeStep};

use super::machine::{End, Transition};
use crate::decide::context::Ctx;
use crate::decide::pods::install;
use crate::reconcile::Deployment;

pub fn decide(cx: &mut Ctx, up: &UpgradeStatus, restore_from: Option<String>) -> Transition {
    if !cx.clear_pods() {
        return Transition::Stay;
    }
    if up.reason == UpgradeReason::Suspend {
        return Transition::End(End::Suspended);
    }
    // The spec became invalid after the upgrade started: nothing runs until it is fixed (the Degraded
    // condition names the fields), and the next valid generation is installed from here.
    let Ok(target) = cx.target.clone() else {
        return Transition::Stay;
    };
    let previous = cx.deployed.as_ref().map(|d| d.parallelism());
    let spec = target.job.spec();
    let deployment = Deployment {
        job: target.job.clone(),
        hash: target.hash,
        restore_from: restore_from.clone(),
        previous_parallelism: previous.filter(|p| *p != target.job.parallelism()),
        lineage: cx.st.lineage.clone(),
    };
    install(cx, deployment);
    cx.st.nonces.savepoint = spec.savepoint_trigger_nonce;
    cx.st.nonces.checkpoint = spec.checkpoint_trigger_nonce;
    cx.st.nonces.restart = spec.restart_nonce;
    cx.requeue(5);
    Transition::To(UpgradeStep::Deploying {
        restore_from,
        since: cx.now(),
    })
}
