//! The deploying half of the upgrade state machine: `PodsDeleted → Deploying → done | RollingBack → done`,
//! plus keeping a deployment's pods present (`keep_pods`, shared with the steady state).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sluice_crds::{BlockedGeneration, DesiredState, UpgradeReason, UpgradeStatus, UpgradeStep};

use super::fingerprint::{fingerprint, parse_spec, spec_json};
use super::upgrade::set_step;
use super::{Ctx, pod_trouble};
use crate::model::{Action, Deployment, Severity};

pub fn pods_deleted(cx: &mut Ctx, up: &UpgradeStatus, restore_from: Option<String>) {
    let remaining: Vec<String> = cx.live_pod_names();
    if !remaining.is_empty() {
        cx.act(Action::DeletePods(remaining));
        cx.requeue(2);
        return;
    }
    if cx.obs.pods.iter().any(|p| p.terminating) {
        cx.requeue(2);
        return;
    }
    if up.reason == UpgradeReason::Suspend {
        cx.st.upgrade = None;
        cx.st.deployed_hash = None;
        cx.st.parallelism = Some(0);
        cx.st.ready_since = None;
        cx.event(Severity::Normal, "Suspended", "workers stopped and removed");
        return;
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
    set_step(
        cx,
        UpgradeStep::Deploying {
            restore_from,
            since: cx.now(),
        },
    );
    cx.requeue(5);
}

/// Records `d` as the deployed spec and creates all its pods.
fn install(cx: &mut Ctx, d: Deployment) {
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
    let pods = cx.deployed_pods();
    let finished: Vec<String> = pods
        .iter()
        .filter(|p| p.finished())
        .map(|p| p.name.clone())
        .collect();
    let missing: Vec<u32> = (0..cx.deployed_parallelism())
        .filter(|o| !cx.obs.pods.iter().any(|p| p.ordinal == *o))
        .collect();
    if !finished.is_empty() {
        cx.act(Action::DeletePods(finished));
    }
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

pub fn deploying(cx: &mut Ctx, up: &UpgradeStatus, restore_from: Option<String>, since: &Time) {
    let respec = cx.st.deployed_hash.as_deref() != Some(cx.target_hash.as_str())
        && !cx.generation_blocked()
        && cx.obs.problems.is_empty()
        && cx.obs.spec.state == DesiredState::Running;
    if respec {
        // The spec changed again before this one got Ready: no savepoint is possible from unready workers,
        // so redeploy the new spec from the same restore point.
        cx.event(
            Severity::Normal,
            "UpgradeRetargeted",
            format!(
                "generation {} replaces {} before it got Ready",
                cx.obs.generation, up.target_generation
            ),
        );
        let names = cx.live_pod_names();
        if !names.is_empty() {
            cx.act(Action::DeletePods(names));
        }
        cx.st.upgrade = Some(UpgradeStatus {
            target_generation: cx.obs.generation,
            step: UpgradeStep::PodsDeleted { restore_from },
            ..up.clone()
        });
        cx.requeue(2);
        return;
    }
    if cx.all_ready() {
        cx.st.upgrade = None;
        cx.st.ready_since = Some(cx.now());
        cx.event(
            Severity::Normal,
            "DeploymentReady",
            format!(
                "generation {}: all {} workers ready",
                up.target_generation,
                cx.deployed_parallelism()
            ),
        );
        cx.requeue(cx.obs.spec.rollback.stable_after.0.div_ceil(1000));
        return;
    }
    keep_pods(cx, restore_from.clone());
    if !cx.past_readiness_timeout(since) {
        cx.requeue(5);
        return;
    }
    // What Kubernetes said about the pods that did not become Ready, so the user need not find them.
    let why = pod_trouble::current(cx)
        .map(|(_, m)| format!(" ({m})"))
        .unwrap_or_default();
    if rollback_possible(cx) {
        cx.event(
            Severity::Warning,
            "RollbackStarted",
            format!(
                "generation {} not Ready within {}{why}; redeploying lastStableSpec from {}",
                up.target_generation,
                cx.obs.spec.rollback.readiness_timeout,
                restore_from.as_deref().unwrap_or("its latest checkpoints")
            ),
        );
        cx.st.blocked_generation = Some(BlockedGeneration {
            generation: up.target_generation,
            reason: "RolledBack".into(),
            message: format!(
                "not Ready within {}{why}; rolled back to lastStableSpec. Change the spec to retry",
                cx.obs.spec.rollback.readiness_timeout
            ),
        });
        let names = cx.live_pod_names();
        if !names.is_empty() {
            cx.act(Action::DeletePods(names));
        }
        set_step(
            cx,
            UpgradeStep::RollingBack {
                restore_from,
                deployed: false,
                since: cx.now(),
            },
        );
        cx.requeue(2);
    } else {
        cx.degraded = Some((
            "NotReady",
            format!(
                "workers not Ready within {}{why} and no rollback possible (rollback disabled or no lastStableSpec)",
                cx.obs.spec.rollback.readiness_timeout
            ),
        ));
        cx.requeue(30);
    }
}

pub fn rolling_back(cx: &mut Ctx, restore_from: Option<String>, deployed: bool, since: &Time) {
    if !deployed {
        let remaining = cx.live_pod_names();
        if !remaining.is_empty() || cx.obs.pods.iter().any(|p| p.terminating) {
            if !remaining.is_empty() {
                cx.act(Action::DeletePods(remaining));
            }
            cx.requeue(2);
            return;
        }
        let Some(stable) = parse_spec(cx.st.last_stable_spec.as_deref()) else {
            cx.st.upgrade = None;
            return;
        };
        let hash = fingerprint(&stable, cx.obs.model_hash.as_deref());
        install(
            cx,
            Deployment {
                spec: stable,
                hash,
                restore_from: restore_from.clone(),
                previous_parallelism: None,
            },
        );
        set_step(
            cx,
            UpgradeStep::RollingBack {
                restore_from,
                deployed: true,
                since: cx.now(),
            },
        );
        cx.requeue(5);
        return;
    }
    if cx.all_ready() {
        cx.st.upgrade = None;
        cx.st.ready_since = Some(cx.now());
        cx.event(
            Severity::Warning,
            "RolledBack",
            "lastStableSpec is Ready again",
        );
        return;
    }
    keep_pods(cx, restore_from);
    if cx.past_readiness_timeout(since) {
        super::steady::fail(
            cx,
            format!(
                "rollback to lastStableSpec not Ready within {}",
                cx.obs.spec.rollback.readiness_timeout
            ),
        );
        cx.st.upgrade = None;
    } else {
        cx.requeue(5);
    }
}
