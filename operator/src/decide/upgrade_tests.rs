//! Upgrade edges: first deployment, savepoint upgrades step by step, a failed savepoint, operator crashes between
//! steps (the decision re-derived from the persisted status alone), rescale, suspend and resume, stop answers.

use sluice_crds::control::{SnapshotState, WorkerPhase};
use sluice_crds::{
    DesiredState, LifecycleState, StreamJobStatus, UpgradeMode, UpgradeReason, UpgradeStep,
};

use super::tests::*;
use super::ts;
use crate::reconcile::{Action, PodPhase, StopOutcome};

#[test]
fn initial_deployment_walks_to_stable() {
    let o = stable();
    assert_eq!(o.status.last_stable_spec, o.status.last_reconciled_spec);
    assert_eq!(o.status.parallelism, Some(2));
    assert_eq!(condition(&o.status, "Ready"), ("True", "AllWorkersReady"));
    assert_eq!(condition(&o.status, "Degraded").0, "False");
    assert_eq!(
        o.status.selector.as_deref(),
        Some("app.kubernetes.io/name=sluice-worker,sluice.dev/job=fraud")
    );
}

#[test]
fn first_deploy_creates_every_ordinal_from_the_initial_savepoint() {
    let mut s = spec();
    s.initial_savepoint_path = Some("s3://old/savepoints/sp-9".into());
    let mut o = obs(s, StreamJobStatus::default(), 1, T0);
    let d = advance(&mut o);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Deploying));
    let d = decide(&o);
    let dep = deploys(&d);
    assert_eq!(dep.len(), 1);
    assert_eq!(dep[0].1, &vec![0, 1]);
    assert_eq!(
        dep[0].0.restore_from.as_deref(),
        Some("s3://old/savepoints/sp-9")
    );
    assert!(matches!(step(&d), Some(UpgradeStep::Deploying { .. })));
}

#[test]
fn savepoint_upgrade_walks_every_step() {
    let mut o = stable();
    let old_hash = o.status.deployed_hash.clone().unwrap();
    o.spec.image = "sluice:2".into();
    o.generation = 2;
    let d = advance(&mut o);
    let Some(UpgradeStep::SavepointRequested { savepoint_id, .. }) = step(&d).cloned() else {
        panic!("{:?}", step(&d))
    };
    assert!(d.actions.contains(&Action::StopWithSavepoint {
        pods: vec!["fraud-worker-0".into(), "fraud-worker-1".into()],
        savepoint_id: savepoint_id.clone()
    }));
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Upgrading));
    // Workers stopped: exit 0.
    o.pods = (0..2)
        .map(|i| pod(i, &old_hash, PodPhase::Succeeded, false))
        .collect();
    o.workers.clear();
    let d = advance(&mut o);
    let location = format!("s3://ckpt/prod/fraud-test/savepoints/{savepoint_id}");
    assert_eq!(
        step(&d),
        Some(&UpgradeStep::SavepointTaken {
            location: Some(location.clone())
        })
    );
    assert_eq!(
        d.status.savepoints.last().map(|s| s.location.clone()),
        Some(location.clone())
    );
    let d = advance(&mut o);
    assert!(matches!(d.actions[0], Action::DeletePods(_)));
    o.pods.clear();
    let d = advance(&mut o);
    let dep = deploys(&d);
    assert_eq!(dep[0].0.restore_from.as_deref(), Some(location.as_str()));
    assert_eq!(dep[0].0.job.spec().image, "sluice:2");
    assert_eq!(dep[0].0.previous_parallelism, None);
    assert!(matches!(step(&d), Some(UpgradeStep::Deploying { .. })));
    running(&mut o);
    let d = decide(&o);
    assert_eq!(d.status.upgrade, None);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Running));
}

#[test]
fn failed_savepoint_keeps_the_old_spec_running_and_says_why() {
    let mut o = stable();
    let old_hash = o.status.deployed_hash.clone().unwrap();
    o.spec.image = "sluice:2".into();
    o.generation = 2;
    let d = advance(&mut o);
    let Some(UpgradeStep::SavepointRequested { savepoint_id, .. }) = step(&d).cloned() else {
        panic!()
    };
    o.workers.insert(
        "fraud-worker-1".into(),
        worker(
            WorkerPhase::Running,
            Some((&savepoint_id, SnapshotState::Failed)),
        ),
    );
    let d = advance(&mut o);
    assert_eq!(d.status.upgrade, None);
    assert_eq!(d.status.deployed_hash.as_deref(), Some(old_hash.as_str()));
    assert_eq!(
        condition(&d.status, "Degraded"),
        ("True", "SavepointFailed")
    );
    let msg = &d
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap()
        .message;
    assert!(msg.contains("disk full"), "{msg}");
    assert!(deploys(&d).iter().all(|(dep, _)| dep.hash == old_hash));
    // The blocked generation is not retried on the next reconcile.
    let d = advance(&mut o);
    assert_eq!(d.status.upgrade, None);
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::StopWithSavepoint { .. }))
    );
    // A new spec change lifts the block.
    o.generation = 3;
    o.spec.image = "sluice:3".into();
    assert!(matches!(
        step(&decide(&o)),
        Some(UpgradeStep::SavepointRequested { .. })
    ));
}

#[test]
fn operator_restart_mid_savepoint_resumes_without_a_second_stop() {
    let mut o = stable();
    o.spec.image = "sluice:2".into();
    o.generation = 2;
    let d = advance(&mut o);
    let Some(UpgradeStep::SavepointRequested { savepoint_id, .. }) = step(&d).cloned() else {
        panic!()
    };
    // Persisted status only: a new operator process decides from it.
    o.now = ts(T0 + 200_000);
    for w in o.workers.values_mut() {
        *w = worker(WorkerPhase::Stopping, None);
    }
    let d = decide(&o);
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::StopWithSavepoint { .. })),
        "{:?}",
        d.actions
    );
    assert!(matches!(
        step(&d),
        Some(UpgradeStep::SavepointRequested { .. })
    ));
    // One worker finished while the operator was down, the other never got the request.
    o.workers.insert(
        "fraud-worker-0".into(),
        worker(
            WorkerPhase::Stopped,
            Some((&savepoint_id, SnapshotState::Completed)),
        ),
    );
    o.workers
        .insert("fraud-worker-1".into(), worker(WorkerPhase::Running, None));
    let d = decide(&o);
    assert!(d.actions.contains(&Action::StopWithSavepoint {
        pods: vec!["fraud-worker-1".into()],
        savepoint_id: savepoint_id.clone()
    }));
    let Some(UpgradeStep::SavepointRequested { stopped, .. }) = step(&d) else {
        panic!()
    };
    assert_eq!(stopped, &vec!["fraud-worker-0".to_string()]);
}

#[test]
fn operator_restart_after_pods_deleted_deploys_once() {
    let mut o = stable();
    o.spec.image = "sluice:2".into();
    o.generation = 2;
    let mut st = o.status.clone();
    st.upgrade = Some(sluice_crds::UpgradeStatus {
        reason: UpgradeReason::SpecChange,
        mode: UpgradeMode::Savepoint,
        target_generation: 2,
        started_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(T0)),
        step: UpgradeStep::PodsDeleted {
            restore_from: Some("s3://x/sp".into()),
        },
    });
    o.status = st;
    // An old pod is still terminating: wait.
    for p in &mut o.pods {
        p.terminating = true;
    }
    let d = decide(&o);
    assert!(deploys(&d).is_empty());
    o.pods.clear();
    let d = decide(&o);
    assert_eq!(deploys(&d)[0].0.restore_from.as_deref(), Some("s3://x/sp"));
}

#[test]
fn rescale_is_an_upgrade_that_fences_the_old_assignment() {
    let mut o = stable();
    o.spec.parallelism = 3;
    o.generation = 2;
    let d = advance(&mut o);
    let Some(UpgradeStep::SavepointRequested { savepoint_id, .. }) = step(&d).cloned() else {
        panic!()
    };
    let hash = o.status.deployed_hash.clone().unwrap();
    o.pods = (0..2)
        .map(|i| pod(i, &hash, PodPhase::Succeeded, false))
        .collect();
    o.workers.clear();
    for _ in 0..2 {
        advance(&mut o);
    }
    o.pods.clear();
    let d = decide(&o);
    let (dep, ordinals) = deploys(&d)[0];
    assert_eq!(ordinals, &vec![0, 1, 2]);
    assert_eq!(dep.previous_parallelism, std::num::NonZeroU32::new(2));
    assert!(
        dep.restore_from
            .as_deref()
            .is_some_and(|l| l.ends_with(&savepoint_id))
    );
    assert_eq!(d.status.parallelism, Some(3));
}

#[test]
fn savepoint_mode_waits_for_healthy_workers_but_last_state_does_not() {
    let mut o = stable();
    o.pods[1].ready = false;
    o.spec.image = "sluice:2".into();
    o.generation = 2;
    let d = decide(&o);
    assert_eq!(d.status.upgrade, None);
    assert_eq!(
        condition(&d.status, "Progressing"),
        ("False", "WaitingForHealthyWorkers")
    );
    o.spec.upgrade_mode = UpgradeMode::LastState;
    let d = decide(&o);
    assert!(matches!(step(&d), Some(UpgradeStep::PodsDeleted { .. })));
    assert!(
        d.actions
            .iter()
            .any(|a| matches!(a, Action::DeletePods(p) if p.len() == 2))
    );
}

#[test]
fn suspend_takes_a_savepoint_and_resume_restores_it() {
    let mut o = stable();
    let hash = o.status.deployed_hash.clone().unwrap();
    o.spec.state = DesiredState::Suspended;
    o.generation = 2;
    let d = advance(&mut o);
    assert!(matches!(
        step(&d),
        Some(UpgradeStep::SavepointRequested { .. })
    ));
    o.pods = (0..2)
        .map(|i| pod(i, &hash, PodPhase::Succeeded, false))
        .collect();
    o.workers.clear();
    for _ in 0..2 {
        advance(&mut o);
    }
    o.pods.clear();
    let d = advance(&mut o);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Suspended));
    assert_eq!(condition(&d.status, "Ready"), ("False", "Suspended"));
    let location = d.status.savepoints.last().unwrap().location.clone();
    o.spec.state = DesiredState::Running;
    o.generation = 3;
    advance(&mut o);
    let d = decide(&o);
    assert_eq!(
        deploys(&d)[0].0.restore_from.as_deref(),
        Some(location.as_str())
    );
}

/// `upgradeMode` says how the *next* upgrade is done; changing only it restarts nothing, and the next real
/// change is done the new way.
#[test]
fn changing_only_the_upgrade_mode_restarts_nothing() {
    let mut o = stable();
    let hash = o.status.deployed_hash.clone();
    o.spec.upgrade_mode = UpgradeMode::LastState;
    o.generation = 2;
    let d = advance(&mut o);
    assert_eq!(d.status.upgrade, None);
    assert_eq!(d.status.deployed_hash, hash);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Stable));
    let stops_or_deletes =
        |a: &Action| matches!(a, Action::StopWithSavepoint { .. } | Action::DeletePods(_));
    assert!(!d.actions.iter().any(stops_or_deletes), "{:?}", d.actions);
    assert!(deploys(&d).iter().all(|(_, create)| create.is_empty()));

    o.spec.image = "sluice:2".into();
    o.generation = 3;
    let d = decide(&o);
    assert_eq!(
        d.status.upgrade.as_ref().map(|u| u.mode),
        Some(UpgradeMode::LastState)
    );
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::StopWithSavepoint { .. }))
    );
}

#[test]
fn stop_answers_are_observed_on_the_next_reconcile_and_a_rejection_aborts() {
    let mut o = stable();
    o.spec.image = "sluice:2".into();
    o.generation = 2;
    advance(&mut o);
    let Some(UpgradeStep::SavepointRequested { savepoint_id, .. }) =
        o.status.upgrade.as_ref().map(|u| u.step.clone())
    else {
        panic!("{:?}", o.status.upgrade)
    };
    // An answer for another savepoint is not this upgrade's.
    o.stop_outcomes = vec![
        StopOutcome::Completed {
            savepoint_id: "sp-old".into(),
            pod: "fraud-worker-1".into(),
            location: Some("s3://x/old".into()),
        },
        StopOutcome::Completed {
            savepoint_id: savepoint_id.clone(),
            pod: "fraud-worker-0".into(),
            location: Some("s3://x/sp".into()),
        },
    ];
    let d = advance(&mut o);
    let Some(UpgradeStep::SavepointRequested {
        stopped, location, ..
    }) = d.status.upgrade.as_ref().map(|u| &u.step)
    else {
        panic!("{:?}", d.status.upgrade)
    };
    assert_eq!(stopped, &vec!["fraud-worker-0".to_string()]);
    assert_eq!(location.as_deref(), Some("s3://x/sp"));
    o.stop_outcomes = vec![StopOutcome::Failed {
        savepoint_id,
        pod: "fraud-worker-1".into(),
        error: "upload failed".into(),
    }];
    let d = decide(&o);
    assert_eq!(d.status.upgrade, None);
    assert_eq!(
        d.status.blocked_generation.as_ref().map(|b| b.generation),
        Some(2)
    );
    let failed = d.events.iter().find(|e| e.reason == "SavepointFailed");
    assert!(
        failed.is_some_and(|e| e.note.contains("upload failed")),
        "{:?}",
        d.events
    );
}

/// A savepoint no worker reported the location of is looked for where the deployed workers write, even when
/// the same spec change moves the checkpoint store.
#[test]
fn a_derived_savepoint_location_is_in_the_deployed_store() {
    let mut o = stable();
    let old_hash = o.status.deployed_hash.clone().unwrap();
    o.spec.image = "sluice:2".into();
    o.spec.job.state.checkpoint_store = Some("s3://elsewhere/store".into());
    o.generation = 2;
    let d = advance(&mut o);
    let Some(UpgradeStep::SavepointRequested { savepoint_id, .. }) = step(&d).cloned() else {
        panic!("{:?}", step(&d))
    };
    o.pods = (0..2)
        .map(|i| pod(i, &old_hash, PodPhase::Succeeded, false))
        .collect();
    o.workers.clear();
    let d = decide(&o);
    assert_eq!(
        step(&d),
        Some(&UpgradeStep::SavepointTaken {
            location: Some(format!(
                "s3://ckpt/prod/fraud-test/savepoints/{savepoint_id}"
            ))
        })
    );
}
