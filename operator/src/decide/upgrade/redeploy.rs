//! `savepointRedeployNonce`: redeploying from `initialSavepointPath` on request. The nonce is handled once:
//! the handled value, the new state lineage and the Event are written with the first step of the upgrade
//! that restores from the savepoint, before any pod of the new lineage exists, so a crash cannot redeploy
//! twice or start pods without their lineage. It may start a redeploy from the steady state, replace a
//! deployment that is not Ready yet (a redeploy from a wrong savepoint is fixed by another), and leave FAILED.

use sluice_crds::UpgradeStep;

use crate::decide::context::Ctx;
use crate::reconcile::Severity;

/// The savepoint to redeploy from, when `savepointRedeployNonce` changed since it was last handled.
pub fn requested(cx: &Ctx) -> Option<String> {
    let spec = &cx.obs.spec;
    let nonce = spec.savepoint_redeploy_nonce?;
    if cx.st.nonces.savepoint_redeploy == Some(nonce) {
        return None;
    }
    spec.initial_savepoint_path.clone()
}

/// Marks the nonce handled, starts a new state lineage and says so; returns the step that deletes the
/// running pods and deploys from `path`.
pub fn begin(cx: &mut Ctx, path: String) -> UpgradeStep {
    let lineage = format!("rd-g{}-{}", cx.obs.generation, cx.now_ms());
    cx.st.nonces.savepoint_redeploy = cx.obs.spec.savepoint_redeploy_nonce;
    cx.st.lineage = Some(lineage.clone());
    let note = format!(
        "generation {}: redeploying from {path} (savepointRedeployNonce {}); the state since that savepoint \
         is recomputed by replaying the committed input with output suppressed (state lineage {lineage})",
        cx.obs.generation,
        cx.obs.spec.savepoint_redeploy_nonce.unwrap_or_default(),
    );
    cx.event(Severity::Normal, "RedeployStarted", note);
    UpgradeStep::PodsDeleted {
        restore_from: Some(path),
    }
}
