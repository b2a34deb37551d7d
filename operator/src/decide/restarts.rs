//! Restarts and FAILED: container restarts and lost workers count against `spec.restartPolicy`; past
//! `maxRestarts` within the window the job is FAILED (pods removed) until `restartNonce` or the spec
//! changes, or `restartPolicy.restartFailed`'s backoff lets it try again. This module never touches
//! `status.upgrade`: leaving FAILED is reported to `decide`, which starts the restart through the upgrade
//! state machine.

use sluice_crds::Millis;

use super::context::Ctx;
use crate::reconcile::Severity;
use crate::saturating;

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
        // A pod first seen since its deployment: the restarts it had then are the baseline, not new ones.
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
    // One more than the budget is enough to fail the job; the window never needs to hold more.
    let cap = i64::from(policy.max_restarts) + 1;
    for _ in 0..i64::from(new).min(cap) {
        cx.st.restarts.recent.push(now.clone());
    }
    check_budget(cx);
}

/// Drops restarts older than the window; fails the job when more than `maxRestarts` remain.
pub fn check_budget(cx: &mut Ctx) {
    let policy = cx.obs.spec.restart_policy;
    let window = saturating::millis(policy.window);
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
    cx.delete_live_pods();
}

/// FAILED: keep the pods gone until `restartNonce` or the deployment fingerprint changes, or until
/// `restartPolicy.restartFailed`'s delay has passed. Returns true when the job leaves FAILED now: the
/// caller then redeploys the current spec from the latest checkpoints.
pub fn while_failed(cx: &mut Ctx) -> bool {
    let nonce_bumped = cx.obs.spec.restart_nonce != cx.st.nonces.restart
        || crate::decide::upgrade::redeploy_requested(cx).is_some();
    if cx.target.is_err() {
        // Nothing new is deployed while the spec has problems (they are in the Degraded condition).
    } else if nonce_bumped || cx.spec_changed() {
        cx.st.restarts.failed_restarts = 0;
        let note = "leaving FAILED: redeploying from the latest checkpoints".to_string();
        leave_failed(cx, "RestartRequested", note);
        return true;
    } else if let Some(auto) = cx.obs.spec.restart_policy.restart_failed {
        let n = cx.st.restarts.failed_restarts;
        let delay = failed_restart_delay(auto, n);
        // A FAILED status without `failedAt` (an older operator's) has waited long enough.
        let failed_for = cx.st.restarts.failed_at.as_ref().map(|t| cx.ms_since(t));
        let remaining = saturating::millis(delay).saturating_sub(failed_for.unwrap_or(i64::MAX));
        if remaining <= 0 {
            cx.st.restarts.failed_restarts = n.saturating_add(1);
            let note = format!(
                "leaving FAILED after {} (automatic restart {} since the job was last STABLE, \
                 restartPolicy.restartFailed): redeploying from the latest checkpoints",
                delay,
                n.saturating_add(1)
            );
            leave_failed(cx, "RestartFromFailed", note);
            return true;
        }
        cx.requeue_in_ms(remaining);
    }
    cx.delete_live_pods();
    false
}

/// `initialDelay × 2^n`, at most `maxDelay`.
fn failed_restart_delay(auto: sluice_crds::RestartFailedSpec, n: u32) -> Millis {
    let ms = auto
        .initial_delay
        .0
        .saturating_mul(1u64 << n.min(30))
        .min(auto.max_delay.0);
    Millis(ms)
}

/// Clears FAILED (the caller starts the `Restart` upgrade that redeploys the current spec).
fn leave_failed(cx: &mut Ctx, reason: &'static str, note: String) {
    cx.event(Severity::Normal, reason, note);
    cx.st.restarts.failure = None;
    cx.st.restarts.failed_at = None;
    cx.st.restarts.recent.clear();
    cx.st.nonces.restart = cx.obs.spec.restart_nonce;
    cx.delete_live_pods();
}

/// Backoff before recreating a pod when `n` restarts are already in the window.
pub fn backoff_ms(cx: &Ctx, n: usize) -> i64 {
    let p = cx.obs.spec.restart_policy;
    let ms = p
        .backoff_initial
        .0
        .saturating_mul(1u64 << n.min(20))
        .min(p.backoff_max.0);
    saturating::millis(Millis(ms))
}
