//! The steady state (no upgrade in flight): keep every deployed ordinal's pod alive, recreating lost or
//! exited pods after an exponential backoff (counted against `spec.restartPolicy`, see
//! [`super::restarts`]), and promote a deployment that stayed Ready for `rollback.stableAfter` to STABLE
//! (`lastStableSpec`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::context::Ctx;
use super::pods::keep_pods;
use super::restarts::{backoff_ms, check_budget};
use crate::reconcile::Severity;
use crate::saturating;

/// Keeps the deployed spec running.
pub fn run(cx: &mut Ctx) {
    let n = cx.deployed_parallelism();
    if n == 0 {
        return;
    }
    // Pods of another fingerprint or beyond the parallelism are leftovers: remove them.
    let stray: Vec<String> = cx
        .live_pods()
        .filter(|p| p.hash != cx.st.deployed_hash || p.ordinal >= n)
        .map(|p| p.name.clone())
        .collect();
    cx.delete_pods(stray);
    note_disruptions(cx);
    let lost: Vec<u32> = {
        let pods = cx.deployed_pods();
        (0..n)
            .filter(|o| !pods.iter().any(|p| p.ordinal == *o && !p.finished()))
            .collect()
    };
    if lost.is_empty() {
        cx.st.restarts.next_recreate_at = None;
        keep_pods(cx, cx.st.restored_from.clone());
    } else {
        match cx.st.restarts.next_recreate_at.clone() {
            None => schedule_recreate(cx, &lost),
            Some(at) if cx.ms_since(&at) >= 0 => {
                if !recreate(cx, &lost) {
                    return;
                }
            }
            Some(at) => {
                // Whole seconds, at least one: the recreation is due within the next requeue.
                let wait_ms = (-cx.ms_since(&at)).max(1000);
                cx.requeue(wait_ms.unsigned_abs() / 1000);
            }
        }
    }
    readiness(cx);
}

/// Exited deployed pods (they go at once, so their names are free when the backoff ends).
fn exited_pods(cx: &Ctx) -> Vec<String> {
    cx.deployed_pods()
        .iter()
        .filter(|p| p.finished())
        .map(|p| p.name.clone())
        .collect()
}

fn is_disrupted(cx: &Ctx, ordinal: u32) -> bool {
    cx.st.restarts.disrupted_ordinals.contains(&ordinal)
}

/// Workers `lost` just went missing: recreate them after the restart backoff — at once when a voluntary
/// disruption took all of them (an eviction is Kubernetes' choice, not a crash).
fn schedule_recreate(cx: &mut Ctx, lost: &[u32]) {
    let all_disrupted = lost.iter().all(|o| is_disrupted(cx, *o));
    let delay = if all_disrupted {
        0
    } else {
        backoff_ms(cx, cx.st.restarts.recent.len())
    };
    let at = super::context::ts(cx.now_ms().saturating_add(delay));
    cx.st.restarts.next_recreate_at = Some(Time(at));
    if !all_disrupted {
        cx.event(
            Severity::Warning,
            "WorkerLost",
            format!(
                "worker ordinal(s) {lost:?} exited or vanished; recreating in {}s",
                delay / 1000
            ),
        );
    }
    let exited = exited_pods(cx);
    cx.delete_pods(exited);
    cx.requeue(delay.max(0).unsigned_abs() / 1000);
}

/// The backoff for `lost` has passed: count the restarts (not the disrupted ones) and recreate them.
/// Returns false while an exited pod is still being deleted (its name is not free yet).
fn recreate(cx: &mut Ctx, lost: &[u32]) -> bool {
    let absent = lost
        .iter()
        .filter(|o| !cx.obs.pods.iter().any(|p| p.ordinal == **o))
        .count();
    if absent < lost.len() {
        let exited = exited_pods(cx);
        cx.delete_pods(exited);
        cx.requeue(2);
        return false;
    }
    let counted = lost.iter().filter(|o| !is_disrupted(cx, **o)).count();
    for _ in 0..counted {
        cx.st.restarts.recent.push(cx.now());
    }
    cx.st
        .restarts
        .disrupted_ordinals
        .retain(|o| !lost.contains(o));
    cx.st.restarts.next_recreate_at = None;
    check_budget(cx);
    if cx.st.restarts.failure.is_none() {
        cx.event(
            Severity::Normal,
            "WorkerRecreated",
            format!("recreating worker ordinal(s) {lost:?}"),
        );
        keep_pods(cx, cx.st.restored_from.clone());
    }
    cx.requeue(5);
    true
}

/// Remembers the ordinals whose deployed pod a voluntary disruption is taking (a `WorkerDisrupted` Event
/// each), so that recreating them is neither delayed by the backoff nor counted against `restartPolicy`.
fn note_disruptions(cx: &mut Ctx) {
    let hash = cx.st.deployed_hash.clone();
    let taken: Vec<(u32, String, String)> = cx
        .obs
        .pods
        .iter()
        .filter(|p| p.hash == hash)
        .filter_map(|p| Some((p.ordinal, p.name.clone(), p.disruption.clone()?)))
        .collect();
    for (ordinal, pod, reason) in taken {
        if cx.st.restarts.disrupted_ordinals.contains(&ordinal) {
            continue;
        }
        cx.st.restarts.disrupted_ordinals.push(ordinal);
        cx.st.restarts.disrupted_ordinals.sort_unstable();
        cx.event(
            Severity::Normal,
            "WorkerDisrupted",
            format!("pod {pod}: {reason}; recreating it at once, not counted as a restart"),
        );
    }
}

/// Ready streak bookkeeping and promotion to STABLE.
fn readiness(cx: &mut Ctx) {
    if !cx.all_ready() {
        cx.st.ready_since = None;
        cx.requeue(10);
        return;
    }
    // All ready and no streak recorded: it starts now.
    let since = cx.st.ready_since.clone().unwrap_or_else(|| cx.now());
    cx.st.ready_since = Some(since.clone());
    let stable_after = saturating::millis(cx.obs.spec.rollback.stable_after);
    let ready_for = cx.ms_since(&since);
    if ready_for >= stable_after {
        // Stable again: the next automatic restart from FAILED starts over at the initial delay.
        cx.st.restarts.failed_restarts = 0;
        if cx.st.last_stable_spec != cx.st.last_reconciled_spec && !cx.generation_blocked() {
            cx.record_stable();
            cx.event(
                Severity::Normal,
                "JobStable",
                format!(
                    "Ready for {}; recorded as lastStableSpec",
                    cx.obs.spec.rollback.stable_after
                ),
            );
        }
    } else {
        // Just after the streak reaches `stableAfter` (positive here: it has not yet).
        let left_ms = stable_after.saturating_sub(ready_for);
        cx.requeue(left_ms.unsigned_abs() / 1000 + 1);
    }
}
