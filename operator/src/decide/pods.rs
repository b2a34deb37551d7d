//! The deployment's pods, shared by the upgrade steps and the steady state: installing a deployment
//! (recording it as deployed and creating all its pods), keeping its pods present, and whether a rollback
//! to `lastStableSpec` is possible.

use super::context::Ctx;
use super::fingerprint::{fingerprint, parse_spec, spec_json};
use crate::reconcile::{Action, Deployment};

/// Records `d` as the deployed spec and creates all its pods.
pub fn install(cx: &mut Ctx, d: Deployment) {
    let n = u32::try_from(d.spec.parallelism).unwrap_or(1);
    cx.st.last_reconciled_spec = Some(spec_json(&d.spec));
    cx.st.deployed_hash = Some(d.hash.clone());
    cx.st.parallelism = Some(d.spec.parallelism);
    cx.st.restored_from.clone_from(&d.restore_from);
    cx.st.ready_since = None;
    cx.st.restarts.pod_restart_counts.clear();
    cx.st.restarts.next_recreate_at = None;
    cx.st.restarts.disrupted_ordinals.clear();
    cx.act(Action::Deploy {
        deployment: Box::new(d),
        create_ordinals: (0..n).collect(),
    });
}

/// Creates missing pods of the deployed spec and deletes exited ones (they are recreated next round).
pub fn keep_pods(cx: &mut Ctx, restore_from: Option<String>) {
    let Some(spec) = parse_spec(cx.st.last_reconciled_spec.as_deref()) else {
        return;
    };
    let Some(hash) = cx.st.deployed_hash.clone() else {
        return;
    };
    let finished: Vec<String> = cx
        .deployed_pods()
        .iter()
        .filter(|p| p.finished())
        .map(|p| p.name.clone())
        .collect();
    let missing: Vec<u32> = (0..cx.deployed_parallelism())
        .filter(|o| !cx.obs.pods.iter().any(|p| p.ordinal == *o))
        .collect();
    cx.delete_pods(finished);
    cx.act(Action::Deploy {
        deployment: Box::new(Deployment {
            spec,
            hash,
            restore_from,
            previous_parallelism: None,
        }),
        create_ordinals: missing,
    });
}

/// A deployment that misses its readiness timeout can go back to `lastStableSpec`: rollback is enabled and
/// a stable spec other than the deployed one exists.
pub fn rollback_possible(cx: &Ctx) -> bool {
    let Some(stable) = parse_spec(cx.st.last_stable_spec.as_deref()) else {
        return false;
    };
    let stable_hash = fingerprint(&stable, cx.obs.model_hash.as_deref());
    cx.obs.spec.rollback.enabled && cx.st.deployed_hash.as_deref() != Some(stable_hash.as_str())
}
