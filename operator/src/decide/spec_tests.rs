//! The spec as decide sees it: an invalid spec is not rolled out, conditions keep their transition times, and
//! only fields that reach the pods change the fingerprint.

use sluice_crds::{DesiredState, UpgradeMode, UpgradeStep};

use super::tests::*;
use super::ts;
use crate::reconcile::Problem;
use crate::validate::ValidatedJob;

#[test]
fn invalid_spec_is_not_rolled_out_and_names_the_field() {
    let mut o = stable();
    let hash = o.status.deployed_hash.clone();
    o.spec.image = "sluice:2".into();
    o.generation = 2;
    o.reference_problems.push(Problem {
        field: "spec.controlApi.tokenSecret".into(),
        message: "Secret \"tok\" not found".into(),
    });
    let d = decide(&o);
    assert_eq!(d.status.upgrade, None);
    assert_eq!(d.status.deployed_hash, hash);
    assert_eq!(condition(&d.status, "Degraded"), ("True", "InvalidSpec"));
    let msg = &d
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap()
        .message;
    assert!(msg.contains("spec.controlApi.tokenSecret"), "{msg}");
}

#[test]
fn conditions_keep_their_transition_time_when_status_does_not_change() {
    let mut o = stable();
    let before = o
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .last_transition_time
        .clone();
    o.now = ts(T0 + 500_000);
    let d = decide(&o);
    let after = d
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .last_transition_time
        .clone();
    assert_eq!(before, after);
}

#[test]
fn operational_fields_do_not_change_the_fingerprint() {
    let a = spec();
    let mut b = spec();
    b.savepoint_trigger_nonce = Some(3);
    b.rollback.enabled = false;
    b.state = DesiredState::Suspended;
    b.upgrade_mode = UpgradeMode::Stateless;
    b.savepoints.timeout = sluice_crds::Millis::from_secs(60);
    b.savepoints.periodic = Some(sluice_crds::PeriodicSavepoints {
        interval: sluice_crds::Millis::from_secs(3_600),
    });
    let fingerprint = |spec: &sluice_crds::StreamJobSpec, model: Option<&str>| {
        ValidatedJob::from_spec(spec.clone())
            .unwrap()
            .fingerprint(model)
    };
    assert_eq!(fingerprint(&a, None), fingerprint(&b, None));
    b.restart_nonce = Some(1);
    assert_ne!(fingerprint(&a, None), fingerprint(&b, None));
    assert_ne!(fingerprint(&a, None), fingerprint(&a, Some("model-2")));
}

/// The spec turns invalid after an upgrade deleted the old pods: nothing is installed until it is fixed, and
/// then the fixed generation is, from the same step.
#[test]
fn a_spec_that_turns_invalid_mid_upgrade_is_not_installed() {
    let mut o = stable();
    o.spec.image = "sluice:2".into();
    o.spec.upgrade_mode = UpgradeMode::LastState;
    o.generation = 2;
    advance(&mut o); // → PodsDeleted, the old pods are being deleted
    o.pods.clear();
    o.workers.clear();
    o.spec.image = " ".into();
    o.generation = 3;
    let d = advance(&mut o);
    assert!(deploys(&d).is_empty(), "{:?}", d.actions);
    assert!(matches!(step(&d), Some(UpgradeStep::PodsDeleted { .. })));
    assert_eq!(condition(&d.status, "Degraded"), ("True", "InvalidSpec"));
    o.spec.image = "sluice:3".into();
    o.generation = 4;
    let d = decide(&o);
    assert_eq!(deploys(&d)[0].0.job.spec().image, "sluice:3");
    assert!(matches!(step(&d), Some(UpgradeStep::Deploying { .. })));
}
