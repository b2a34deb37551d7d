//! Readiness timeouts, rollback to `lastStableSpec`, the restart budget and FAILED, lost pods recreated after
//! the backoff.

use sluice_crds::{LifecycleState, StreamJobStatus, UpgradeMode, UpgradeReason, UpgradeStep};

use super::tests::*;
use super::ts;
use crate::reconcile::{Action, ObservedPod, PodPhase};

#[test]
fn not_ready_in_time_rolls_back_to_the_stable_spec() {
    let mut o = stable();
    let stable_hash = o.status.deployed_hash.clone().unwrap();
    o.spec.image = "sluice:broken".into();
    o.generation = 2;
    o.spec.upgrade_mode = UpgradeMode::LastState;
    advance(&mut o);
    o.pods.clear();
    o.workers.clear();
    advance(&mut o);
    let new_hash = o.status.deployed_hash.clone().unwrap();
    o.pods = (0..2)
        .map(|i| pod(i, &new_hash, PodPhase::Running, false))
        .collect();
    o.now = ts(T0 + 120_000 + 301_000);
    let d = advance(&mut o);
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
    o.pods.clear();
    let d = advance(&mut o);
    assert_eq!(deploys(&d)[0].0.job.spec().image, "sluice:1");
    assert_eq!(
        d.status.deployed_hash.as_deref(),
        Some(stable_hash.as_str())
    );
    running(&mut o);
    let d = decide(&o);
    assert_eq!(d.status.upgrade, None);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::RolledBack));
    assert_eq!(condition(&d.status, "Degraded"), ("True", "RolledBack"));
}

#[test]
fn a_first_deployment_that_crash_loops_past_its_readiness_timeout_fails() {
    let mut o = obs(spec(), StreamJobStatus::default(), 1, T0);
    advance(&mut o); // → PodsDeleted (initial)
    advance(&mut o); // → Deploying since T0
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
        let d = advance(&mut o);
        assert_eq!(d.status.restarts.failure, None, "minute {minute}");
        let reported = d.events.iter().any(|e| e.reason == "WorkerRestarted");
        assert_eq!(reported, minute > 0, "minute {minute}");
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
    let d = advance(&mut o);
    assert_eq!(d.status.lifecycle_state, Some(LifecycleState::Failed));
    assert_eq!(
        condition(&d.status, "Degraded"),
        ("True", "RestartLimitExceeded")
    );
    assert!(d.actions.iter().any(|a| matches!(a, Action::DeletePods(_))));
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
    let d = advance(&mut o);
    assert!(d.status.restarts.next_recreate_at.is_some());
    assert!(deploys(&d).iter().all(|(_, c)| c.is_empty()));
    assert_eq!(d.requeue_secs, 10);
    o.now = ts(T0 + 120_000 + 10_000);
    let d = decide(&o);
    assert_eq!(deploys(&d)[0].1, &vec![1]);
    assert_eq!(d.status.restarts.recent.len(), 1);
}
