//! What Kubernetes says about troubled worker pods reaches the `Degraded` condition and Events.

use super::tests::{advance, decide};
use super::tests::{condition, stable};
use crate::reconcile::{Plan, PodRejection, PodTrouble, Severity};

fn trouble(reason: &str, message: &str) -> Option<PodTrouble> {
    Some(PodTrouble {
        reason: reason.into(),
        message: message.into(),
    })
}

fn warnings<'d>(d: &'d Plan, reason: &str) -> Vec<&'d str> {
    d.events
        .iter()
        .filter(|e| e.severity == Severity::Warning && e.reason == reason)
        .map(|e| e.note.as_str())
        .collect()
}

fn degraded_message(d: &Plan) -> &str {
    let c = d.status.conditions.iter().find(|c| c.type_ == "Degraded");
    c.map_or("", |c| c.message.as_str())
}

#[test]
fn a_crash_looping_pod_degrades_the_job_with_one_event_naming_the_pod() {
    let mut o = stable();
    o.pods[1].trouble = trouble(
        "CrashLoopBackOff",
        "container worker: back-off 20s; last exit: OOMKilled (exit code 137)",
    );
    o.pods[1].ready = false;
    let d = advance(&mut o);
    assert_eq!(
        condition(&d.status, "Degraded"),
        ("True", "CrashLoopBackOff")
    );
    let expected = "pod fraud-worker-1: CrashLoopBackOff: container worker: back-off 20s; last exit: OOMKilled (exit code 137)";
    assert_eq!(degraded_message(&d), expected);
    assert_eq!(warnings(&d, "CrashLoopBackOff"), vec![expected]);

    // Still crash-looping on the next reconcile: the condition stays, no second Event.
    let d = advance(&mut o);
    assert_eq!(
        condition(&d.status, "Degraded"),
        ("True", "CrashLoopBackOff")
    );
    assert!(warnings(&d, "CrashLoopBackOff").is_empty());

    // Kubernetes shows the same crash loop as `Error` between back-offs: still no new Event.
    o.pods[1].trouble = trouble("Error", "container worker: OOMKilled (exit code 137)");
    let d = advance(&mut o);
    assert_eq!(condition(&d.status, "Degraded"), ("True", "Error"));
    assert!(d.events.iter().all(|e| e.severity != Severity::Warning));

    // Recovered: the condition clears.
    o.pods[1].trouble = None;
    o.pods[1].ready = true;
    let d = decide(&o);
    assert_eq!(condition(&d.status, "Degraded"), ("False", "AsExpected"));
}

#[test]
fn an_unknown_kubernetes_reason_is_bounded_but_kept_in_the_message() {
    let mut o = stable();
    o.pods[0].trouble = trouble("SomethingNew", "details");
    o.pods[1].trouble = trouble("ImagePullBackOff", "container worker: Back-off pulling");
    let d = decide(&o);
    assert_eq!(condition(&d.status, "Degraded"), ("True", "PodNotRunning"));
    assert_eq!(
        degraded_message(&d),
        "pod fraud-worker-0: SomethingNew: details (and 1 more pods)"
    );
}

#[test]
fn a_refused_pod_is_the_condition_and_its_event_comes_from_the_apply_stage() {
    let mut o = stable();
    o.rejected_pod = Some(PodRejection {
        pod: "fraud-worker-1".into(),
        reason: "Forbidden".into(),
        message: "exceeded quota: one-pod".into(),
    });
    let d = decide(&o);
    assert_eq!(condition(&d.status, "Degraded"), ("True", "PodRejected"));
    assert_eq!(
        degraded_message(&d),
        "the API server refused to create pod fraud-worker-1 (Forbidden): exceeded quota: one-pod"
    );
    assert!(warnings(&d, "PodRejected").is_empty());
}

#[test]
fn a_restart_is_an_event_with_the_last_exit_and_the_failure_names_it() {
    let mut o = stable();
    o.pods[0].restarts = 1;
    o.pods[0].last_termination = Some("OOMKilled (exit code 137)".into());
    let d = advance(&mut o);
    assert_eq!(
        warnings(&d, "WorkerRestarted"),
        vec!["pod fraud-worker-0 restarted (1 restarts); last exit: OOMKilled (exit code 137)"]
    );
    assert_eq!(d.status.restarts.failure, None);

    // Past restartPolicy.maxRestarts (default 5 in 10 minutes): FAILED, and the reason says the last exit.
    o.pods[0].restarts = 7;
    let d = decide(&o);
    let failure = d.status.restarts.failure.clone().unwrap_or_default();
    assert!(
        failure.ends_with("; last: pod fraud-worker-0 restarted (7 restarts); last exit: OOMKilled (exit code 137)"),
        "{failure}"
    );
}

#[test]
fn warnings_are_kept_in_a_bounded_history() {
    let mut o = stable();
    for restarts in 1..=12 {
        o.pods[0].restarts = restarts;
        o.pods[0].last_termination = Some(format!("Error (exit code {restarts})"));
        o.now = super::context::ts(o.now.as_millisecond() + 1_000);
        advance(&mut o);
        // A fresh budget each time: this test is about the history, not the restart limit.
        o.status.restarts.recent.clear();
    }
    let history = &o.status.warning_history;
    assert_eq!(history.len(), sluice_crds::WARNING_HISTORY);
    assert!(history.iter().all(|w| w.reason == "WorkerRestarted"));
    let newest = history
        .last()
        .map(|w| w.message.as_str())
        .unwrap_or_default();
    assert!(
        newest.ends_with("last exit: Error (exit code 12)"),
        "{newest}"
    );
    let oldest = history
        .first()
        .map(|w| w.message.as_str())
        .unwrap_or_default();
    assert!(
        oldest.ends_with("last exit: Error (exit code 3)"),
        "{oldest}"
    );
}
