//! The steady state (no upgrade in flight): keep every deployed ordinal's pod alive, recreating lost or
//! exited pods after an exponential backoff, count restarts against `spec.restartPolicy`, and promote a
//! deployment that stayed Ready for `rollback.stableAfter` to STABLE (`lastStableSpec`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use sluice_crds::{UpgradeReason, UpgradeStatus, UpgradeStep};

use super::Ctx;
use super::deploy::keep_pods;
use crate::model::{Action, Severity};

/// Reports container restarts of deployed pods since the last reconcile (a `WorkerRestarted` Event each,
/// with the last exit); with `count`, also counts them, prunes the window and fails the job past
/// `maxRestarts`.
pub fn account_restarts(cx: &mut Ctx, count: bool) {
    let policy = cx.obs.spec.restart_policy;
    let now = cx.now();
    let pods = cx.deployed_pods();
    let mut counts = std::collections::BTreeMap::new();
    let mut new = 0;
    let mut restart_notes = Vec::new();
    for p in &pods {
        let before = cx
            .st
            .restarts
            .pod_restart_counts
            .get(&p.name)
            .copied()
            .unwrap_or(p.restarts);
        let restarted = (p.restarts - before).max(0);
        if restarted > 0 {
            restart_notes.push(format!(
                "pod {} restarted ({} restarts){}",
                p.name,
                p.restarts,
                p.last_termination
                    .as_deref()
                    .map(|t| format!("; last exit: {t}"))
                    .unwrap_or_default()
            ));
        }
        new += restarted;
        counts.insert(p.name.clone(), p.restarts);
    }
    for note in &restart_notes {
        cx.event(Severity::Warning, "WorkerRestarted", note.clone());
    }
    cx.last_restart = restart_notes.pop();
    cx.st.restarts.pod_restart_counts = counts;
    if !count {
        return;
    }
    for _ in 0..new.min(
        i32::try_from(policy.max_restarts)
            .unwrap_or(i32::MAX)
            .saturating_add(1),
    ) {
        cx.st.restarts.recent.push(now.clone());
    }
    check_budget(cx);
}

/// Drops restarts older than the window; fails the job when more than `maxRestarts` remain.
fn check_budget(cx: &mut Ctx) {
    let policy = cx.obs.spec.restart_policy;
    let window = i64::try_from(policy.window.0).unwrap_or(i64::MAX);
    let now_ms = cx.now_ms();
    cx.st
        .restarts
        .recent
        .retain(|t| now_ms - t.0.as_millisecond() <= window);
    let keep = policy.max_restarts as usize + 1;
    let len = cx.st.restarts.recent.len();
    if len > keep {
        cx.st.restarts.recent.drain(..len - keep);
    }
    if cx.st.restarts.recent.len() > policy.max_restarts as usize {
        fail(
            cx,
            format!(
                "{} restarts within {} exceed restartPolicy.maxRestarts={}{}",
                cx.st.restarts.recent.len(),
                policy.window,
                policy.max_restarts,
                cx.last_restart
                    .as_deref()
                    .map(|r| format!("; last: {r}"))
                    .unwrap_or_default()
            ),
        );
    }
}

/// Marks the job FAILED with `reason` and removes its pods (bump `restartNonce` or change the spec to retry).
pub fn fail(cx: &mut Ctx, reason: String) {
    cx.event(Severity::Warning, "JobFailed", reason.clone());
    cx.st.restarts.failure = Some(reason);
    cx.st.restarts.failed_at = Some(cx.now());
    cx.st.ready_since = None;
    // A rollout that failed is over: leaving FAILED starts a new one.
    cx.st.upgrade = None;
    let names = cx.live_pod_names();
    if !names.is_empty() {
        cx.act(Action::DeletePods(names));
    }
}

/// FAILED: keep the pods gone until `restartNonce` or the deployment fingerprint changes, or until
/// `restartPolicy.restartFailed`'s delay has passed.
pub fn while_failed(cx: &mut Ctx) {
    let nonce_bumped = cx.obs.spec.restart_nonce != cx.st.nonces.restart;
    let spec_changed = cx.st.deployed_hash.as_deref() != Some(cx.target_hash.as_str());
    if !cx.obs.problems.is_empty() {
        // Nothing new is deployed while the spec has problems (they are in the Degraded condition).
    } else if nonce_bumped || spec_changed {
        cx.st.restarts.failed_restarts = 0;
        let note = "leaving FAILED: redeploying from the latest checkpoints".to_string();
        return leave_failed(cx, "RestartRequested", note);
    } else if let Some(auto) = cx.obs.spec.restart_policy.restart_failed {
        let n = cx.st.restarts.failed_restarts;
        let delay = failed_restart_delay_ms(auto, n);
        let failed_for = cx.st.restarts.failed_at.as_ref().map(|t| cx.ms_since(t));
        let remaining = delay.saturating_sub(failed_for.unwrap_or(i64::MAX));
        if remaining <= 0 {
            cx.st.restarts.failed_restarts = n.saturating_add(1);
            let note = format!(
                "leaving FAILED after {} (automatic restart {} since the job was last STABLE, \
                 restartPolicy.restartFailed): redeploying from the latest checkpoints",
                sluice_crds::Millis(u64::try_from(delay).unwrap_or(0)),
                n.saturating_add(1)
            );
            return leave_failed(cx, "RestartFromFailed", note);
        }
        cx.requeue(u64::try_from(remaining).map_or(u64::MAX, |ms| ms.div_ceil(1000)));
    }
    let names = cx.live_pod_names();
    if !names.is_empty() {
        cx.act(Action::DeletePods(names));
    }
}

/// `initialDelay × 2^n`, at most `maxDelay`, in milliseconds.
fn failed_restart_delay_ms(auto: sluice_crds::RestartFailedSpec, n: u32) -> i64 {
    let ms = auto
        .initial_delay
        .0
        .saturating_mul(1u64 << n.min(30))
        .min(auto.max_delay.0);
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Clears FAILED and redeploys the current spec from the latest checkpoints (a `Restart` upgrade).
fn leave_failed(cx: &mut Ctx, reason: &'static str, note: String) {
    cx.event(Severity::Normal, reason, note);
    cx.st.restarts.failure = None;
    cx.st.restarts.failed_at = None;
    cx.st.restarts.recent.clear();
    cx.st.nonces.restart = cx.obs.spec.restart_nonce;
    let names = cx.live_pod_names();
    if !names.is_empty() {
        cx.act(Action::DeletePods(names));
    }
    cx.st.upgrade = Some(UpgradeStatus {
        reason: UpgradeReason::Restart,
        mode: cx.obs.spec.upgrade_mode,
        target_generation: cx.obs.generation,
        started_at: cx.now(),
        step: UpgradeStep::PodsDeleted {
            restore_from: cx.st.restored_from.clone(),
        },
    });
    cx.requeue(2);
}

/// Backoff before recreating a pod when `n` restarts are already in the window.
pub fn backoff_ms(cx: &Ctx, n: usize) -> i64 {
    let p = cx.obs.spec.restart_policy;
    let shift = u32::try_from(n).unwrap_or(u32::MAX).min(20);
    let ms = p
        .backoff_initial
        .0
        .saturating_mul(1u64 << shift)
        .min(p.backoff_max.0);
    i64::try_from(ms).unwrap_or(i64::MAX)
}

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
    if !stray.is_empty() {
        cx.act(Action::DeletePods(stray));
    }
    note_disruptions(cx);
    let pods = cx.deployed_pods();
    let lost: Vec<u32> = (0..n)
        .filter(|o| !pods.iter().any(|p| p.ordinal == *o && !p.finished()))
        .collect();
    let disrupted = |o: &u32| cx.st.restarts.disrupted_ordinals.contains(o);
    let all_disrupted = lost.iter().all(disrupted);
    let restore = cx.st.restored_from.clone();
    if lost.is_empty() {
        cx.st.restarts.next_recreate_at = None;
        keep_pods(cx, restore);
    } else {
        match cx.st.restarts.next_recreate_at.clone() {
            None => {
                // An evicted worker comes back at once: the eviction was Kubernetes' choice, not a crash.
                let delay = if all_disrupted {
                    0
                } else {
                    backoff_ms(cx, cx.st.restarts.recent.len())
                };
                let at = super::ts(cx.now_ms().saturating_add(delay));
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
                // Exited pods go now, so their names are free when the backoff ends.
                let finished: Vec<String> = pods
                    .iter()
                    .filter(|p| p.finished())
                    .map(|p| p.name.clone())
                    .collect();
                if !finished.is_empty() {
                    cx.act(Action::DeletePods(finished));
                }
                cx.requeue(u64::try_from(delay / 1000).unwrap_or(1));
            }
            Some(at) if cx.ms_since(&at) >= 0 => {
                let absent = lost
                    .iter()
                    .filter(|o| !cx.obs.pods.iter().any(|p| p.ordinal == **o))
                    .count();
                if absent < lost.len() {
                    // An exited pod is still being deleted; its name is not free yet.
                    let finished: Vec<String> = pods
                        .iter()
                        .filter(|p| p.finished())
                        .map(|p| p.name.clone())
                        .collect();
                    if !finished.is_empty() {
                        cx.act(Action::DeletePods(finished));
                    }
                    cx.requeue(2);
                    return;
                }
                let counted = lost.iter().filter(|o| !disrupted(o)).count();
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
                    keep_pods(cx, restore);
                }
                cx.requeue(5);
            }
            Some(at) => {
                let wait = (-cx.ms_since(&at)).max(1000) / 1000;
                cx.requeue(u64::try_from(wait).unwrap_or(1));
            }
        }
    }
    readiness(cx);
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
    let since = cx.st.ready_since.clone().unwrap_or_else(|| cx.now());
    cx.st.ready_since = Some(since.clone());
    let stable_after = i64::try_from(cx.obs.spec.rollback.stable_after.0).unwrap_or(i64::MAX);
    let ready_for = cx.ms_since(&since);
    if ready_for >= stable_after {
        // Stable again: the next automatic restart from FAILED starts over at the initial delay.
        cx.st.restarts.failed_restarts = 0;
        if cx.st.last_stable_spec != cx.st.last_reconciled_spec && !cx.generation_blocked() {
            cx.st
                .last_stable_spec
                .clone_from(&cx.st.last_reconciled_spec);
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
        cx.requeue(u64::try_from((stable_after - ready_for) / 1000 + 1).unwrap_or(1));
    }
}
