//! Periodic savepoints (`spec.savepoints.periodic`) and the savepoint timeout (`spec.savepoints.timeout`).

use sluice_crds::control::{SnapshotState, WorkerPhase};
use sluice_crds::{Millis, PeriodicSavepoints, SavepointTrigger};

use super::tests::{T0, stable, worker};
use super::tests::{advance, decide};
use super::ts;
use crate::reconcile::{Action, Observed, Plan};

const HOUR: u64 = 3_600_000;

fn triggered(d: &Plan) -> Option<String> {
    d.actions.iter().find_map(|a| match a {
        Action::TriggerSavepoint { savepoint_id, .. } => Some(savepoint_id.clone()),
        _ => None,
    })
}

/// A stable job with a savepoint every hour, `minutes` after it became stable (T0 + 2 min).
fn hourly_at(minutes: i64) -> Observed {
    let mut o = stable();
    o.spec.savepoints.periodic = Some(PeriodicSavepoints {
        interval: Millis(HOUR),
    });
    o.now = ts(T0 + 120_000 + minutes * 60_000);
    o
}

#[test]
fn a_periodic_savepoint_is_taken_when_the_interval_has_passed_and_recorded_as_periodic() {
    // Not before the interval: the operator comes back when it is due.
    let o = hourly_at(30);
    let d = decide(&o);
    assert_eq!(triggered(&d), None);
    assert!(d.requeue_secs <= 3_600, "requeue in {} s", d.requeue_secs);

    let mut o = hourly_at(61);
    let d = advance(&mut o);
    let id = triggered(&d).expect("a periodic savepoint");
    assert!(id.starts_with("sp-periodic-"), "{id}");
    // Asked once, however often the operator reconciles meanwhile.
    assert_eq!(triggered(&decide(&o)), None);
    for w in o.workers.values_mut() {
        *w = worker(WorkerPhase::Running, Some((&id, SnapshotState::Completed)));
    }
    let d = advance(&mut o);
    assert_eq!(d.status.pending_savepoint, None);
    let last = d.status.savepoints.last().expect("recorded");
    assert_eq!(
        (last.id.as_str(), last.trigger),
        (id.as_str(), SavepointTrigger::Periodic)
    );

    // The next one is an interval after this one.
    o.now = ts(T0 + 120_000 + 100 * 60_000);
    assert_eq!(triggered(&decide(&o)), None);
    o.now = ts(T0 + 120_000 + 122 * 60_000);
    assert!(triggered(&decide(&o)).is_some());
}

#[test]
fn a_periodic_savepoint_waits_for_running_workers_and_for_no_upgrade() {
    let mut o = hourly_at(61);
    for w in o.workers.values_mut() {
        *w = worker(WorkerPhase::Recovering, None);
    }
    let d = decide(&o);
    assert_eq!(triggered(&d), None);
    assert!(d.requeue_secs <= 10);

    let mut o = hourly_at(61);
    o.spec.image = "sluice:2".into();
    o.generation = 2;
    let d = decide(&o);
    assert_eq!(triggered(&d), None, "an upgrade takes its own savepoint");
}

#[test]
fn any_savepoint_resets_the_periodic_clock() {
    let mut o = hourly_at(50);
    o.spec.savepoint_trigger_nonce = Some(1);
    let d = advance(&mut o);
    let id = triggered(&d).expect("the manual savepoint");
    assert!(id.starts_with("sp-manual-"), "{id}");
    for w in o.workers.values_mut() {
        *w = worker(WorkerPhase::Running, Some((&id, SnapshotState::Completed)));
    }
    advance(&mut o);
    o.now = ts(T0 + 120_000 + 70 * 60_000);
    assert_eq!(
        triggered(&decide(&o)),
        None,
        "20 minutes after the manual one"
    );
}

#[test]
fn a_savepoint_that_outlasts_the_configured_timeout_fails() {
    let mut o = hourly_at(61);
    o.spec.savepoints.timeout = Millis(60_000);
    let d = advance(&mut o);
    let id = triggered(&d).unwrap();
    o.now = ts(T0 + 120_000 + 63 * 60_000);
    let d = decide(&o);
    assert_eq!(d.status.pending_savepoint, None);
    let failed: Vec<_> = d
        .events
        .iter()
        .filter(|e| e.reason == "SavepointFailed")
        .map(|e| e.note.clone())
        .collect();
    assert_eq!(failed, vec![format!("{id} did not complete within 1m")]);

    // The same limit applies to an upgrade's stop-with-savepoint.
    let mut o = stable();
    o.spec.savepoints.timeout = Millis(60_000);
    o.spec.image = "sluice:2".into();
    o.generation = 2;
    advance(&mut o);
    o.now = ts(T0 + 120_000 + 2 * 60_000);
    let d = decide(&o);
    assert_eq!(d.status.upgrade, None, "the upgrade is abandoned");
    let blocked = d.status.blocked_generation.expect("blocked");
    assert!(blocked.message.contains("within 1m"), "{}", blocked.message);
}
