//! Evictions (a node drain) are not failures: the worker comes back at once and no restart is counted.

use super::tests::stable;
use super::tests::{advance, decide};
use crate::reconcile::{Action, Plan, Severity};

fn created(d: &Plan) -> Vec<u32> {
    d.actions
        .iter()
        .filter_map(|a| match a {
            Action::Deploy(d) => Some(d.create_ordinals.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn an_evicted_worker_is_recreated_at_once_without_counting_a_restart() {
    let mut o = stable();
    o.pods[1].terminating = true;
    o.pods[1].disruption = Some("EvictionByEvictionAPI".into());
    let d = advance(&mut o);
    assert_eq!(d.status.restarts.disrupted_ordinals, vec![1]);
    let disrupted: Vec<_> = d
        .events
        .iter()
        .filter(|e| e.reason == "WorkerDisrupted")
        .collect();
    assert_eq!(disrupted.len(), 1, "{:?}", d.events);
    assert_eq!(disrupted[0].severity, Severity::Normal);
    assert!(
        disrupted[0]
            .note
            .contains("fraud-worker-1: EvictionByEvictionAPI")
    );
    assert!(d.events.iter().all(|e| e.reason != "WorkerLost"));
    assert_eq!(
        d.status.restarts.next_recreate_at.as_ref().map(|t| t.0),
        Some(o.now)
    );

    // The pod is gone a moment later: recreated now, nothing counted, the mark cleared.
    o.pods.remove(1);
    o.now = super::context::ts(o.now.as_millisecond() + 1_000);
    let d = decide(&o);
    assert_eq!(created(&d), vec![1]);
    assert!(d.status.restarts.recent.is_empty());
    assert!(d.status.restarts.disrupted_ordinals.is_empty());
    assert_eq!(d.status.restarts.failure, None);
}

#[test]
fn a_vanished_worker_without_a_disruption_still_counts() {
    let mut o = stable();
    o.pods.remove(1);
    let d = advance(&mut o);
    assert!(d.events.iter().any(|e| e.reason == "WorkerLost"));
    let at = d.status.restarts.next_recreate_at.clone().unwrap();
    o.now = at.0;
    let d = decide(&o);
    assert_eq!(created(&d), vec![1]);
    assert_eq!(d.status.restarts.recent.len(), 1);
}
