//! Fixtures of the decide tests: an observed job at each stage (`stable`, pods, workers, savepoints), and
//! `decide` checked for what every decision must satisfy. The tests are beside this file, one per concern
//! (`upgrade_tests`, `restart_tests`, `running_savepoint_tests`, `spec_tests`, …).

use std::collections::BTreeMap;

use sluice_crds::control::{SnapshotInfo, SnapshotState, WorkerPhase, WorkerStatus};
use sluice_crds::{LifecycleState, StreamJobSpec, StreamJobStatus, UpgradeStep};

use super::ts;
use crate::reconcile::{Action, Observed, ObservedPod, Plan, PodPhase, WorkerProbe};

pub(crate) const T0: i64 = 1_800_000_000_000;

/// `validate` and `decide`, checking what every decision must satisfy: the upgrade state machine refused
/// no edge.
pub(crate) fn decide(o: &Observed) -> Plan {
    let d = super::decide(o, &crate::validate::validate(o));
    let refused: Vec<_> = d
        .events
        .iter()
        .filter(|e| e.reason == "IllegalUpgradeTransition")
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    d
}

/// One reconcile as the controller runs it: decides, then persists the decided status into `o` as the apply
/// stage would, so the next `decide` starts from it. Returns the decision.
pub(crate) fn advance(o: &mut Observed) -> Plan {
    let d = decide(o);
    o.status = d.status.clone();
    d
}

pub fn spec() -> StreamJobSpec {
    serde_norway::from_str(
        "image: sluice:1\nparallelism: 2\npartitions: 4\njob:\n  transactionalIdPrefix: fraud-test\n  state:\n    checkpointStore: s3://ckpt/prod\n",
    )
    .unwrap()
}

pub(crate) fn obs(
    spec: StreamJobSpec,
    status: StreamJobStatus,
    generation: i64,
    now: i64,
) -> Observed {
    Observed {
        name: "fraud".into(),
        generation,
        spec,
        status,
        pods: Vec::new(),
        workers: BTreeMap::new(),
        model_hash: None,
        reference_problems: Vec::new(),
        rejected_pod: None,
        stop_outcomes: Vec::new(),
        autoscaler: None,
        now: ts(now),
    }
}

pub(crate) fn pod(ordinal: u32, hash: &str, phase: PodPhase, ready: bool) -> ObservedPod {
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
pub(crate) fn running(o: &mut Observed) {
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
    advance(&mut o); // → PodsDeleted (initial)
    advance(&mut o); // → Deploying
    running(&mut o);
    advance(&mut o); // → ready
    o.now = ts(T0 + 120_000);
    advance(&mut o); // → stable
    assert_eq!(o.status.lifecycle_state, Some(LifecycleState::Stable));
    o
}

pub(crate) fn step(d: &Plan) -> Option<&UpgradeStep> {
    d.status.upgrade.as_ref().map(|u| &u.step)
}

pub(crate) fn condition<'a>(s: &'a StreamJobStatus, t: &str) -> (&'a str, &'a str) {
    let c = s.conditions.iter().find(|c| c.type_ == t).unwrap();
    (c.status.as_str(), c.reason.as_str())
}

pub(crate) fn deploys(d: &Plan) -> Vec<(&crate::reconcile::Deployment, &Vec<u32>)> {
    d.actions
        .iter()
        .filter_map(|a| match a {
            Action::Deploy(d) => Some((&d.deployment, &d.create_ordinals)),
            _ => None,
        })
        .collect()
}
