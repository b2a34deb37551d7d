//! `PodsDeleted`: wait until no old pod is left, then end a suspend, or install the target spec's
//! deployment and wait for it (`Deploying`).

use sluice_crds::{UpgradeReason, UpgradeStatus, UpgradeStep};

use super::machine::{End, Transition};
use crate::decide::context::Ctx;
use crate::decide::fingerprint::parse_spec;
use crate::decide::pods::install;
use crate::reconcile::Deployment;

pub fn decide(cx: &mut Ctx, up: &UpgradeStatus, restore_from: Option<String>) -> Transition {
    if !cx.clear_pods() {
        return Transition::Stay;
    }
    if up.reason == UpgradeReason::Suspend {
        return Transition::End(End::Suspended);
    }
    let previous = parse_spec(cx.st.last_reconciled_spec.as_deref()).map(|s| s.parallelism);
    let spec = cx.obs.spec.clone();
    let deployment = Deployment {
        hash: cx.target_hash.clone(),
        restore_from: restore_from.clone(),
        previous_parallelism: previous
            .filter(|p| *p != spec.parallelism)
            .and_then(|p| u32::try_from(p).ok()),
        spec: spec.clone(),
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
