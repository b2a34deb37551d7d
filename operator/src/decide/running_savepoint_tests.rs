//! Savepoints while the job runs: by nonce, their completion, the bounded history and expiry.

use sluice_crds::control::{SnapshotState, WorkerPhase};

use super::tests::*;
use super::ts;
use crate::reconcile::Action;

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
    let d = advance(&mut o);
    let id = d.status.pending_savepoint.as_ref().unwrap().id.clone();
    assert!(
        d.actions
            .iter()
            .any(|a| matches!(a, Action::TriggerSavepoint { .. }))
    );
    let d = advance(&mut o);
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::TriggerSavepoint { .. }))
    );
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
