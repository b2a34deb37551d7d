//! The deployment's pods, shared by the upgrade steps and the steady state: installing a deployment
//! (recording it as deployed and creating all its pods), keeping its pods present, and whether a rollback
//! to `lastStableSpec` is possible.

use super::context::Ctx;
use crate::reconcile::{Action, Deploy, Deployment};

/// Records `d` as the deployed spec and creates all its pods.
pub fn install(cx: &mut Ctx, d: Deployment) {
    cx.record_deployed(&d.job);
    cx.st.deployed_hash = Some(d.hash.clone());
    cx.st.parallelism = Some(d.job.spec().parallelism);
    cx.st.restored_from.clone_from(&d.restore_from);
    cx.st.ready_since = None;
    cx.st.restarts.pod_restart_counts.clear();
    cx.st.restarts.next_recreate_at = None;
    cx.st.restarts.disrupted_ordinals.clear();
    let create_ordinals = d.job.ordinals().collect();
    cx.act(Action::Deploy(Box::new(Deploy {
        deployment: d,
        create_ordinals,
    })));
}

/// Creates missing pods of the deployed spec and deletes exited ones (they are recreated next round).
pub fn keep_pods(cx: &mut Ctx, restore_from: Option<String>) {
    let Some(job) = cx.deployed.clone() else {
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
    cx.act(Action::Deploy(Box::new(Deploy {
        deployment: Deployment {
            job,
            hash,
            restore_from,
            previous_parallelism: None,
            lineage: cx.st.lineage.clone(),
        },
        create_ordinals: missing,
    })));
}

/// A deployment that misses its readiness timeout can go back to `lastStableSpec`: rollback is enabled and
/// a stable spec other than the deployed one exists.
pub fn rollback_possible(cx: &Ctx) -> bool {
    let Some(stable) = &cx.stable else {
        return false;
    };
    let stable_hash = cx.fingerprint_of(stable);
    cx.obs.spec.rollback.enabled && cx.st.deployed_hash.as_deref() != Some(stable_hash.as_str())
}
