//! `restartPolicy.restartFailed`: a FAILED job redeploys itself after a delay that doubles per consecutive
//! automatic restart and starts over once the job is STABLE again.

use sluice_crds::{Millis, RestartFailedSpec, UpgradeReason};

use super::tests::{T0, stable};
use super::tests::{advance, decide};
use super::ts;
use crate::reconcile::{Observed, Plan};

const FAILED_AT: i64 = T0 + 120_000;

/// A stable job that just failed (past `maxRestarts`), with automatic restarts after 1m, at most 4m.
fn failed() -> Observed {
    let mut o = stable();
    o.spec.restart_policy.restart_failed = Some(RestartFailedSpec {
        initial_delay: Millis::from_secs(60),
        max_delay: Millis::from_secs(240),
    });
    o.pods[0].restarts = 7;
    let d = advance(&mut o);
    assert!(d.status.restarts.failure.is_some(), "not FAILED");
    o
}

fn restarted(d: &Plan) -> Option<&str> {
    let restart = d
        .status
        .upgrade
        .as_ref()
        .is_some_and(|u| u.reason == UpgradeReason::Restart);
    let note = d.events.iter().find(|e| e.reason == "RestartFromFailed");
    restart.then_some(note.map(|e| e.note.as_str())).flatten()
}

#[test]
fn a_failed_job_restarts_itself_after_a_delay_that_doubles() {
    let mut o = failed();
    o.now = ts(FAILED_AT + 59_000);
    let d = decide(&o);
    assert_eq!(restarted(&d), None, "before the delay");
    assert!(d.status.restarts.failure.is_some());
    assert!(
        d.requeue_secs <= 1,
        "comes back when due: {}",
        d.requeue_secs
    );

    o.now = ts(FAILED_AT + 61_000);
    let d = decide(&o);
    let note = restarted(&d).expect("restarted after 1m");
    assert!(note.contains("after 1m (automatic restart 1"), "{note}");
    assert_eq!(d.status.restarts.failure, None);
    assert_eq!(d.status.restarts.failed_restarts, 1);

    // It fails again at once: now the delay is 2m, then 4m, and never more than maxDelay.
    for (n, delay_s) in [(1, 120), (2, 240), (3, 240)] {
        let mut again = failed();
        again.status.restarts.failed_restarts = n;
        again.now = ts(FAILED_AT + delay_s * 1000 - 1000);
        assert_eq!(restarted(&decide(&again)), None, "restart {n}, early");
        again.now = ts(FAILED_AT + delay_s * 1000 + 1000);
        assert!(restarted(&decide(&again)).is_some(), "restart {n}, due");
    }
}

#[test]
fn without_the_setting_a_failed_job_stays_failed() {
    let mut o = failed();
    o.spec.restart_policy.restart_failed = None;
    o.now = ts(FAILED_AT + 86_400_000);
    let d = decide(&o);
    assert_eq!(restarted(&d), None);
    assert!(d.status.restarts.failure.is_some());
}

#[test]
fn reaching_stable_again_resets_the_delay() {
    let mut o = stable();
    o.status.restarts.failed_restarts = 3;
    o.now = ts(T0 + 500_000);
    let d = decide(&o);
    assert_eq!(d.status.restarts.failed_restarts, 0);
}
