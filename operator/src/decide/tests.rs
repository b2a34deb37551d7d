//! Table-style tests of the pure decide step: every upgrade edge, failures, crashes of the operator between
//! steps (a decision is re-derived from the persisted status alone), rescale, rollback, restarts, suspend.

use std::collections::BTreeMap;

use sluice_crds::control::{SnapshotInfo, SnapshotState, WorkerPhase, WorkerStatus};
use sluice_crds::{
    DesiredState, LifecycleState, StreamJobSpec, StreamJobStatus, UpgradeMode, UpgradeReason,
    UpgradeStep,
};

use super::fingerprint::fingerprint;
use super::ts;
use crate::reconcile::{
    Action, Decision, Observed, ObservedPod, PodPhase, Problem, StopOutcome, WorkerProbe,
};

pub(crate) const T0: i64 = 1_800_000_000_000;

/// `decide`, checking what every decision must satisfy: the upgrade state machine refused no edge.
pub(crate) fn decide(o: &Observed) -> Decision {
    let d = super::decide(o);
    let refused: Vec<_> = d
        .events
        .iter()
        .filter(|e| e.reason == "IllegalUpgradeTransition")
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    d
}

pub fn spec() -> StreamJobSpec {
    serde_yaml::from_str(
        "image: sluice:1\nparallelism: 2\npartitions: 4\njob:\n  transactionalIdPrefix: fraud-test\n  state:\n    checkpointStore: s3://ckpt/prod\n",
    )
    .unwrap()
}

fn obs(spec: StreamJobSpec, status: StreamJobStatus, generation: i64, now: i64) -> Observed {
    Observed {
        name: "fraud".into(),
        generation,
        spec,
        status,
        pods: Vec::new(),
        workers: BTreeMap::new(),
        model_hash: None,
        problems: Vec::new(),
        rejected_pod: None,
        stop_outcomes: Vec::new(),
        autoscaler: None,
        now: ts(now),
    }
}

fn pod(ordinal: u32, hash: &str, phase: PodPhase, ready: bool) -> ObservedPod {
    ObservedPod {
        name: format!("fraud-worker-{ordinal}"),
        ordinal,
        hash: Some(hash.into()),
        phase,
        ready,
        restarts: 0,
        ip: Some(format!("10.0.0.{ordinal}")),
        terminating: false,
        trouble: None,
        last_termination: None,
        disruption: None,
    }
}

pub(crate) fn worker(phase: WorkerPhase, savepoint: Option<(&str, SnapshotState)>) -> WorkerProbe {
    WorkerProbe::Status(Box::new(WorkerStatus {
        worker: "w".into(),
        job: "fraud-test".into(),
        model_version: "fraud-v1".into(),
        phase,
        partitions: vec![],
        last_checkpoint: None,
        last_savepoint: savepoint.map(|(id, state)| SnapshotInfo {
            id: id.into(),
            state,
            location: (state == SnapshotState::Completed)
                .then(|| format!("s3://ckpt/prod/fraud-test/savepoints/{id}")),
            error: (state == SnapshotState::Failed).then(|| "disk full".into()),
            uploaded_bytes: 0,
            state_bytes: 0,
            duration_ms: None,
        }),
        consecutive_failed_checkpoints: 0,
        state_bytes: 0,
        busy_ratio: 0.5,
        input_partitions: Some(4),
    }))
}

/// A running worker's status (for tests of other modules).
pub fn worker_status_for_tests() -> WorkerStatus {
    match worker(WorkerPhase::Running, None) {
        WorkerProbe::Status(s) => *s,
        WorkerProbe::Unreachable(_) => unreachable!(),
    }
}

/// Healthy running pods + workers for the deployed hash of `o.status`.
fn running(o: &mut Observed) {
    let hash = o.status.deployed_hash.clone().unwrap();
    let n = o.status.parallelism.unwrap() as u32;
    o.pods = (0..n)
        .map(|i| pod(i, &hash, PodPhase::Running, true))
        .collect();
    o.workers = o
        .pods
        .iter()
        .map(|p| (p.name.clone(), worker(WorkerPhase::Running, None)))
        .collect();
}

/// A job deployed from `spec()` and stable at time T0.
pub(crate) fn stable() -> Observed {
    let mut o = obs(spec(), StreamJobStatus::default(), 1, T0);
    let d = decide(&o); // → PodsDeleted (initial)
    o.status = d.status;
    let d = decide(&o); // → Deploying
    o.status = d.status;
    running(&mut o);
    let d = decide(&o); // → ready
    o.status = d.status;
    o.now = ts(T0 + 120_000);
    let d = decide(&o); // → stable
    o.status = d.status;
    assert_eq!(o.status.lifecycle_state, Some(LifecycleState::Stable));
    o
}

fn step(d: &Decision) -> Option<&UpgradeStep> {
    d.status.upgrade.as_ref().map(|u| &u.step)
}

pub(crate) fn condition<'a>(s: &'a StreamJobStatus, t: &str) -> (&'a str, &'a str) {
    let c = s.conditions.iter().find(|c| c.type_ == t).unwrap();
    (c.status.as_str(), c.reason.as_str())
}

fn deploys(d: &Decision) -> Vec<(&crate::reconcile::Deployment, &Vec<u32>)> {
    d.actions
        .iter()
        .filter_map(|a| match a {
            Action::Deploy {
                deployment,
                create_ordinals,
            } => Some((deployment.as_ref(), create_ordinals)),
            _ => None,
        })
        .collect()
}

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
    let d = decide(&o);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Deploying));
    o.status = d.status;
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
    let d = decide(&o);
    let Some(UpgradeStep::SavepointRequested { savepoint_id, .. }) = step(&d).cloned() else {
        panic!("{:?}", step(&d))
    };
    assert!(d.actions.contains(&Action::StopWithSavepoint {
        pods: vec!["fraud-worker-0".into(), "fraud-worker-1".into()],
        savepoint_id: savepoint_id.clone()
    }));
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Upgrading));
    o.status = d.status;
    // Workers stopped: exit 0.
    o.pods = (0..2)
        .map(|i| pod(i, &old_hash, PodPhase::Succeeded, false))
        .collect();
    o.workers.clear();
    let d = decide(&o);
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
    o.status = d.status;
    let d = decide(&o);
    assert!(matches!(d.actions[0], Action::DeletePods(_)));
    o.status = d.status;
    o.pods.clear();
    let d = decide(&o);
    let dep = deploys(&d);
    assert_eq!(dep[0].0.restore_from.as_deref(), Some(location.as_str()));
    assert_eq!(dep[0].0.spec.image, "sluice:2");
    assert_eq!(dep[0].0.previous_parallelism, None);
    assert!(matches!(step(&d), Some(UpgradeStep::Deploying { .. })));
    o.status = d.status;
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
    let d = decide(&o);
    let Some(UpgradeStep::SavepointRequested { savepoint_id, .. }) = step(&d).cloned() else {
        panic!()
    };
    o.status = d.status;
    o.workers.insert(
        "fraud-worker-1".into(),
        worker(
            WorkerPhase::Running,
            Some((&savepoint_id, SnapshotState::Failed)),
        ),
    );
    let d = decide(&o);
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
    o.status = d.status;
    let d = decide(&o);
    assert_eq!(d.status.upgrade, None);
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::StopWithSavepoint { .. }))
    );
    // A new spec change lifts the block.
    o.status = d.status;
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
    let d = decide(&o);
    let Some(UpgradeStep::SavepointRequested { savepoint_id, .. }) = step(&d).cloned() else {
        panic!()
    };
    // Persisted status only: a new operator process decides from it.
    o.status = d.status;
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
    let d = decide(&o);
    let Some(UpgradeStep::SavepointRequested { savepoint_id, .. }) = step(&d).cloned() else {
        panic!()
    };
    o.status = d.status;
    let hash = o.status.deployed_hash.clone().unwrap();
    o.pods = (0..2)
        .map(|i| pod(i, &hash, PodPhase::Succeeded, false))
        .collect();
    o.workers.clear();
    for _ in 0..2 {
        let d = decide(&o);
        o.status = d.status;
    }
    o.pods.clear();
    let d = decide(&o);
    let (dep, ordinals) = deploys(&d)[0];
    assert_eq!(ordinals, &vec![0, 1, 2]);
    assert_eq!(dep.previous_parallelism, Some(2));
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
fn not_ready_in_time_rolls_back_to_the_stable_spec() {
    let mut o = stable();
    let stable_hash = o.status.deployed_hash.clone().unwrap();
    o.spec.image = "sluice:broken".into();
    o.generation = 2;
    o.spec.upgrade_mode = UpgradeMode::LastState;
    let d = decide(&o);
    o.status = d.status;
    o.pods.clear();
    o.workers.clear();
    let d = decide(&o);
    o.status = d.status;
    let new_hash = o.status.deployed_hash.clone().unwrap();
    o.pods = (0..2)
        .map(|i| pod(i, &new_hash, PodPhase::Running, false))
        .collect();
    o.now = ts(T0 + 120_000 + 301_000);
    let d = decide(&o);
    assert!(
        matches!(
            step(&d),
            Some(UpgradeStep::RollingBack {
                deployed: false,
                ..
            })
        ),
        "{:?}",
        step(&d)
    );
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::RollingBack));
    o.status = d.status;
    o.pods.clear();
    let d = decide(&o);
    assert_eq!(deploys(&d)[0].0.spec.image, "sluice:1");
    assert_eq!(
        d.status.deployed_hash.as_deref(),
        Some(stable_hash.as_str())
    );
    o.status = d.status;
    running(&mut o);
    let d = decide(&o);
    assert_eq!(d.status.upgrade, None);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::RolledBack));
    assert_eq!(condition(&d.status, "Degraded"), ("True", "RolledBack"));
}

#[test]
fn a_first_deployment_that_crash_loops_past_its_readiness_timeout_fails() {
    let mut o = obs(spec(), StreamJobStatus::default(), 1, T0);
    o.status = decide(&o).status; // → PodsDeleted (initial)
    o.status = decide(&o).status; // → Deploying since T0
    assert!(matches!(
        o.status.upgrade.as_ref().map(|u| &u.step),
        Some(UpgradeStep::Deploying { .. })
    ));
    let hash = o.status.deployed_hash.clone().unwrap();
    let crash_looping = |restarts: i32| -> Vec<ObservedPod> {
        (0..2)
            .map(|i| ObservedPod {
                restarts,
                ..pod(i, &hash, PodPhase::Running, false)
            })
            .collect()
    };
    // Inside the 5m readiness timeout restarts are reported, not counted: the timeout judges a rollout.
    for minute in 0..=4 {
        o.pods = crash_looping(minute * 3);
        o.now = ts(T0 + i64::from(minute) * 60_000);
        let d = decide(&o);
        assert_eq!(d.status.restarts.failure, None, "minute {minute}");
        let reported = d.events.iter().any(|e| e.reason == "WorkerRestarted");
        assert_eq!(reported, minute > 0, "minute {minute}");
        o.status = d.status;
    }
    // Past it, with no lastStableSpec to roll back to, the restart budget judges: 6 restarts > 5.
    o.pods = crash_looping(15);
    o.now = ts(T0 + 6 * 60_000);
    let d = decide(&o);
    let failure = d.status.restarts.failure.clone().expect("FAILED");
    assert!(failure.contains("maxRestarts=5"), "{failure}");
    assert_eq!(d.status.upgrade, None);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Failed));
    assert!(d.actions.contains(&Action::DeletePods(vec![
        "fraud-worker-0".into(),
        "fraud-worker-1".into()
    ])));
}

#[test]
fn restarts_beyond_the_budget_fail_the_job_and_restart_nonce_recovers() {
    let mut o = stable();
    o.pods[0].restarts = 6;
    let d = decide(&o);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Failed));
    assert_eq!(
        condition(&d.status, "Degraded"),
        ("True", "RestartLimitExceeded")
    );
    assert!(d.actions.iter().any(|a| matches!(a, Action::DeletePods(_))));
    o.status = d.status;
    o.pods.clear();
    o.workers.clear();
    let d = decide(&o);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Failed));
    o.spec.restart_nonce = Some(1);
    o.generation = 2;
    let d = decide(&o);
    assert_eq!(d.status.restarts.failure, None);
    assert_eq!(
        d.status.upgrade.as_ref().map(|u| u.reason),
        Some(UpgradeReason::Restart)
    );
}

#[test]
fn a_lost_pod_is_recreated_after_the_backoff() {
    let mut o = stable();
    o.pods.remove(1);
    let d = decide(&o);
    assert!(d.status.restarts.next_recreate_at.is_some());
    assert!(deploys(&d).iter().all(|(_, c)| c.is_empty()));
    assert_eq!(d.requeue_secs, 10);
    o.status = d.status;
    o.now = ts(T0 + 120_000 + 10_000);
    let d = decide(&o);
    assert_eq!(deploys(&d)[0].1, &vec![1]);
    assert_eq!(d.status.restarts.recent.len(), 1);
}

#[test]
fn suspend_takes_a_savepoint_and_resume_restores_it() {
    let mut o = stable();
    let hash = o.status.deployed_hash.clone().unwrap();
    o.spec.state = DesiredState::Suspended;
    o.generation = 2;
    let d = decide(&o);
    assert!(matches!(
        step(&d),
        Some(UpgradeStep::SavepointRequested { .. })
    ));
    o.status = d.status;
    o.pods = (0..2)
        .map(|i| pod(i, &hash, PodPhase::Succeeded, false))
        .collect();
    o.workers.clear();
    for _ in 0..2 {
        o.status = decide(&o).status;
    }
    o.pods.clear();
    let d = decide(&o);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Suspended));
    assert_eq!(condition(&d.status, "Ready"), ("False", "Suspended"));
    let location = d.status.savepoints.last().unwrap().location.clone();
    o.status = d.status;
    o.spec.state = DesiredState::Running;
    o.generation = 3;
    let d = decide(&o);
    o.status = d.status;
    let d = decide(&o);
    assert_eq!(
        deploys(&d)[0].0.restore_from.as_deref(),
        Some(location.as_str())
    );
}

#[test]
fn savepoint_history_is_bounded_and_expired_ones_are_deleted() {
    let mut o = stable();
    o.spec.savepoint_retention.max_count = 2;
    for i in 0..3 {
        o.status.savepoints.push(sluice_crds::SavepointRecord {
            id: format!("sp-{i}"),
            location: format!("s3://x/sp-{i}"),
            trigger: sluice_crds::SavepointTrigger::Manual,
            created_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(T0 + i)),
            generation: 1,
        });
    }
    let d = decide(&o);
    assert_eq!(d.status.savepoints.len(), 2);
    assert!(d.actions.contains(&Action::DeleteSavepoint {
        location: "s3://x/sp-0".into()
    }));
}

#[test]
fn savepoint_nonce_triggers_once_and_completion_is_recorded() {
    let mut o = stable();
    o.spec.savepoint_trigger_nonce = Some(7);
    let d = decide(&o);
    let id = d.status.pending_savepoint.as_ref().unwrap().id.clone();
    assert!(
        d.actions
            .iter()
            .any(|a| matches!(a, Action::TriggerSavepoint { .. }))
    );
    o.status = d.status;
    let d = decide(&o);
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::TriggerSavepoint { .. }))
    );
    o.status = d.status;
    for w in o.workers.values_mut() {
        *w = worker(WorkerPhase::Running, Some((&id, SnapshotState::Completed)));
    }
    let d = decide(&o);
    assert_eq!(d.status.pending_savepoint, None);
    assert_eq!(
        d.status
            .job
            .as_ref()
            .unwrap()
            .last_savepoint
            .as_ref()
            .unwrap()
            .id,
        id
    );
}

#[test]
fn invalid_spec_is_not_rolled_out_and_names_the_field() {
    let mut o = stable();
    let hash = o.status.deployed_hash.clone();
    o.spec.image = "sluice:2".into();
    o.generation = 2;
    o.problems.push(Problem {
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
    assert_eq!(fingerprint(&a, None), fingerprint(&b, None));
    b.restart_nonce = Some(1);
    assert_ne!(fingerprint(&a, None), fingerprint(&b, None));
    assert_ne!(fingerprint(&a, None), fingerprint(&a, Some("model-2")));
}

/// `upgradeMode` says how the *next* upgrade is done; changing only it restarts nothing, and the next real
/// change is done the new way.
#[test]
fn changing_only_the_upgrade_mode_restarts_nothing() {
    let mut o = stable();
    let hash = o.status.deployed_hash.clone();
    o.spec.upgrade_mode = UpgradeMode::LastState;
    o.generation = 2;
    let d = decide(&o);
    assert_eq!(d.status.upgrade, None);
    assert_eq!(d.status.deployed_hash, hash);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Stable));
    let stops_or_deletes =
        |a: &Action| matches!(a, Action::StopWithSavepoint { .. } | Action::DeletePods(_));
    assert!(!d.actions.iter().any(stops_or_deletes), "{:?}", d.actions);
    assert!(deploys(&d).iter().all(|(_, create)| create.is_empty()));

    o.status = d.status;
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
    o.status = decide(&o).status;
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
    let d = decide(&o);
    let Some(UpgradeStep::SavepointRequested {
        stopped, location, ..
    }) = d.status.upgrade.as_ref().map(|u| &u.step)
    else {
        panic!("{:?}", d.status.upgrade)
    };
    assert_eq!(stopped, &vec!["fraud-worker-0".to_string()]);
    assert_eq!(location.as_deref(), Some("s3://x/sp"));
    o.status = d.status;
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
