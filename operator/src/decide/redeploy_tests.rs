//! `savepointRedeployNonce`: a redeploy from `initialSavepointPath` without a savepoint, in a new state
//! lineage; handled once; also from a deployment that is not Ready and from FAILED; never by a nonce alone
//! on a first deployment's restore, nor by a spec change.

use sluice_crds::{LifecycleState, UpgradeReason, UpgradeStep};

use super::tests::*;
use super::ts;
use crate::reconcile::{Action, PodPhase};

const SP: &str = "s3://ckpt/prod/fraud-test/savepoints/sp-g1-1";

fn env_lineage(d: &crate::reconcile::Plan) -> Option<String> {
    deploys(d).first().and_then(|(dep, _)| dep.lineage.clone())
}

#[test]
fn a_nonce_bump_redeploys_from_the_savepoint_in_a_new_lineage() {
    let mut o = stable();
    let stable_hash = o.status.deployed_hash.clone().unwrap();
    o.spec.initial_savepoint_path = Some(SP.into());
    o.spec.savepoint_redeploy_nonce = Some(7);
    o.generation = 2;
    let d = advance(&mut o);
    // No savepoint of the state being replaced: the pods go at once.
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::StopWithSavepoint { .. }))
    );
    assert!(
        d.actions
            .iter()
            .any(|a| matches!(a, Action::DeletePods(p) if p.len() == 2))
    );
    let up = d.status.upgrade.as_ref().unwrap();
    assert_eq!(up.reason, UpgradeReason::Redeploy);
    assert_eq!(
        up.step,
        UpgradeStep::PodsDeleted {
            restore_from: Some(SP.into())
        }
    );
    assert_eq!(d.status.nonces.savepoint_redeploy, Some(7));
    let lineage = d.status.lineage.clone().unwrap();
    assert!(lineage.starts_with("rd-g2-"), "{lineage}");
    let started = d
        .events
        .iter()
        .find(|e| e.reason == "RedeployStarted")
        .unwrap();
    assert!(started.note.contains(SP), "{}", started.note);

    o.pods.clear();
    o.workers.clear();
    let d = advance(&mut o);
    let (dep, ordinals) = deploys(&d)[0];
    assert_eq!(dep.restore_from.as_deref(), Some(SP));
    assert_eq!(dep.lineage.as_deref(), Some(lineage.as_str()));
    assert_eq!(ordinals, &vec![0, 1]);
    // The nonce is not part of what the pods run.
    assert_eq!(dep.hash, stable_hash);
    assert_eq!(d.status.restored_from.as_deref(), Some(SP));
    running(&mut o);
    let d = advance(&mut o);
    assert_eq!(d.status.upgrade, None);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Running));

    // Handled once: the same nonce again starts nothing, and later pods keep the lineage.
    o.generation = 3;
    let d = advance(&mut o);
    assert_eq!(d.status.upgrade, None);
    o.pods.retain(|p| p.ordinal == 0);
    o.now = ts(T0 + 600_000);
    advance(&mut o); // the lost pod is recreated after the backoff
    o.now = ts(T0 + 700_000);
    let d = advance(&mut o);
    assert_eq!(
        env_lineage(&d).as_deref(),
        Some(lineage.as_str()),
        "{:?}",
        d.actions
    );
}

#[test]
fn a_redeploy_replaces_a_deployment_that_is_not_ready() {
    let mut o = stable();
    o.spec.initial_savepoint_path = Some("s3://ckpt/prod/fraud-test/savepoints/wrong".into());
    o.spec.savepoint_redeploy_nonce = Some(1);
    o.generation = 2;
    advance(&mut o);
    o.pods.clear();
    o.workers.clear();
    advance(&mut o); // → Deploying from the wrong savepoint
    let hash = o.status.deployed_hash.clone().unwrap();
    o.pods = (0..2)
        .map(|i| pod(i, &hash, PodPhase::Running, false))
        .collect();
    let first = o.status.lineage.clone();
    o.spec.initial_savepoint_path = Some(SP.into());
    o.spec.savepoint_redeploy_nonce = Some(2);
    o.generation = 3;
    o.now = ts(T0 + 130_000);
    let d = advance(&mut o);
    assert_eq!(
        step(&d),
        Some(&UpgradeStep::PodsDeleted {
            restore_from: Some(SP.into())
        })
    );
    assert_ne!(d.status.lineage, first);
    assert_eq!(d.status.nonces.savepoint_redeploy, Some(2));
}

#[test]
fn a_redeploy_leaves_failed() {
    let mut o = stable();
    o.status.restarts.failure = Some("too many restarts".into());
    o.pods.clear();
    o.workers.clear();
    let d = advance(&mut o);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Failed));
    o.spec.initial_savepoint_path = Some(SP.into());
    o.spec.savepoint_redeploy_nonce = Some(3);
    o.generation = 2;
    let d = advance(&mut o);
    assert_eq!(d.status.restarts.failure, None);
    let up = d.status.upgrade.as_ref().unwrap();
    assert_eq!(up.reason, UpgradeReason::Redeploy);
    assert_eq!(
        up.step,
        UpgradeStep::PodsDeleted {
            restore_from: Some(SP.into())
        }
    );
}

#[test]
fn a_first_deployment_with_a_nonce_restores_from_the_savepoint_once() {
    let mut s = spec();
    s.initial_savepoint_path = Some(SP.into());
    s.savepoint_redeploy_nonce = Some(1);
    let mut o = obs(s, Default::default(), 1, T0);
    let d = advance(&mut o);
    assert_eq!(d.status.nonces.savepoint_redeploy, Some(1));
    let d = advance(&mut o);
    assert_eq!(deploys(&d)[0].0.restore_from.as_deref(), Some(SP));
    running(&mut o);
    advance(&mut o);
    let d = advance(&mut o);
    assert_eq!(d.status.upgrade, None, "no second redeploy");
}

#[test]
fn a_nonce_without_a_savepoint_path_is_a_problem_of_that_field() {
    let mut o = stable();
    o.spec.savepoint_redeploy_nonce = Some(1);
    o.generation = 2;
    let d = advance(&mut o);
    assert_eq!(d.status.upgrade, None);
    let degraded = d
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap();
    assert_eq!(degraded.reason, "InvalidSpec");
    assert!(
        degraded.message.contains("spec.initialSavepointPath"),
        "{}",
        degraded.message
    );
}
