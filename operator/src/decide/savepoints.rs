//! Savepoint bookkeeping: job figures from the workers, savepoints taken while the job runs (manual by
//! nonce, periodic by interval), checkpoints by nonce, the bounded savepoint history and its retention
//! (expired savepoints become `DeleteSavepoint` actions).

use sluice_crds::control::SnapshotState;
use sluice_crds::{JobFigures, PendingSavepoint, SavepointRecord, SavepointTrigger, SnapshotRef};

use super::context::Ctx;
use crate::reconcile::{Action, Severity};
use crate::saturating;

/// Aggregates the workers' statuses into `status.job`.
pub fn figures(cx: &mut Ctx) {
    let statuses: Vec<_> = cx.obs.workers.values().filter_map(|w| w.status()).collect();
    let running = statuses
        .iter()
        .filter(|s| s.phase == sluice_crds::control::WorkerPhase::Running)
        .count();
    let mut f = JobFigures {
        workers_running: saturating::to_i32(running),
        ..JobFigures::default()
    };
    // No lag at all (rather than 0) while no worker reports one.
    let mut lag = None::<i64>;
    for s in &statuses {
        f.partitions = f
            .partitions
            .saturating_add(saturating::to_i32(s.partitions.len()));
        for l in s.partitions.iter().filter_map(|p| p.lag) {
            lag = Some(lag.map_or(l, |sum| sum.saturating_add(l)));
        }
        f.state_bytes = f
            .state_bytes
            .saturating_add(saturating::to_i64(s.state_bytes));
    }
    f.lag = lag;
    // The job is restorable to the *oldest* of the workers' latest checkpoints.
    f.last_checkpoint = statuses
        .iter()
        .filter_map(|s| s.last_checkpoint.as_ref())
        .filter(|c| c.state == SnapshotState::Completed)
        .min_by(|a, b| a.id.cmp(&b.id))
        .map(|c| SnapshotRef {
            id: c.id.clone(),
            location: c.location.clone(),
        });
    f.last_savepoint = cx.st.savepoints.last().map(|s| SnapshotRef {
        id: s.id.clone(),
        location: Some(s.location.clone()),
    });
    cx.st.job = Some(f);
}

/// Adds a completed savepoint to the history (newest last).
pub fn record(cx: &mut Ctx, id: &str, location: &str, trigger: SavepointTrigger) {
    if cx.st.savepoints.iter().any(|s| s.id == id) {
        return;
    }
    cx.st.savepoints.push(SavepointRecord {
        id: id.to_string(),
        location: location.to_string(),
        trigger,
        created_at: cx.now(),
        generation: cx.obs.generation,
    });
    if let Some(job) = cx.st.job.as_mut() {
        job.last_savepoint = Some(SnapshotRef {
            id: id.to_string(),
            location: Some(location.to_string()),
        });
    }
    cx.event(
        Severity::Normal,
        "SavepointCompleted",
        format!("{id} ({trigger:?}) at {location}"),
    );
}

/// Savepoints the workers take while they keep running — asked for by `savepointTriggerNonce` or due by
/// `savepoints.periodic.interval` — and the completion or timeout of the one in progress; then the
/// checkpoint nonce.
pub fn while_running(cx: &mut Ctx) {
    if cx.st.deployed_hash.is_none() {
        return;
    }
    if let Some(pending) = cx.st.pending_savepoint.clone() {
        follow(cx, &pending);
    } else if cx.obs.spec.savepoint_trigger_nonce != cx.st.nonces.savepoint {
        if cx.healthy() {
            trigger(cx, SavepointTrigger::Manual);
            cx.st.nonces.savepoint = cx.obs.spec.savepoint_trigger_nonce;
        } else {
            cx.waiting = Some((
                "SavepointWaiting",
                "savepointTriggerNonce changed; waiting for every worker to be ready and running"
                    .into(),
            ));
            cx.requeue(10);
        }
    } else if let Some(wait_ms) = periodic_wait_ms(cx) {
        if wait_ms > 0 {
            cx.requeue_in_ms(wait_ms);
        } else if cx.healthy() {
            trigger(cx, SavepointTrigger::Periodic);
        } else {
            // Due, but a savepoint needs every worker running: try again shortly.
            cx.requeue(10);
        }
    }
    checkpoint_nonce(cx);
}

/// Asks every deployed worker for savepoint `sp-<trigger>-<now>` and remembers it as pending.
fn trigger(cx: &mut Ctx, trigger: SavepointTrigger) {
    let pods: Vec<String> = cx.deployed_pods().iter().map(|p| p.name.clone()).collect();
    let kind = match trigger {
        SavepointTrigger::Periodic => "periodic",
        _ => "manual",
    };
    let id = format!("sp-{kind}-{}", cx.now_ms());
    cx.act(Action::TriggerSavepoint {
        pods,
        savepoint_id: id.clone(),
    });
    cx.event(Severity::Normal, "SavepointTriggered", id.clone());
    cx.st.pending_savepoint = Some(PendingSavepoint {
        id,
        started_at: cx.now(),
        trigger,
    });
    cx.requeue(5);
}

/// Records the pending savepoint once every worker reports it completed; drops it when one reports a
/// failure or `savepoints.timeout` passes.
fn follow(cx: &mut Ctx, pending: &PendingSavepoint) {
    let pods: Vec<String> = cx.deployed_pods().iter().map(|p| p.name.clone()).collect();
    let reports: Vec<_> = pods
        .iter()
        .filter_map(|n| cx.obs.workers.get(n).and_then(|w| w.status()))
        .filter_map(|s| s.last_savepoint.as_ref().filter(|sp| sp.id == pending.id))
        .collect();
    if let Some(failed) = reports.iter().find(|r| r.state == SnapshotState::Failed) {
        let why = failed.error.clone().unwrap_or_default();
        cx.event(
            Severity::Warning,
            "SavepointFailed",
            format!("{}: {why}", pending.id),
        );
        cx.st.pending_savepoint = None;
    } else if reports.len() == pods.len()
        && !pods.is_empty()
        && reports.iter().all(|r| r.state == SnapshotState::Completed)
    {
        let location = reports
            .iter()
            .find_map(|r| r.location.clone())
            .or_else(|| derived_location(cx, &pending.id));
        if let Some(location) = location {
            record(cx, &pending.id, &location, pending.trigger);
        }
        cx.st.pending_savepoint = None;
    } else if cx.ms_since(&pending.started_at) > cx.savepoint_timeout_ms() {
        cx.event(
            Severity::Warning,
            "SavepointFailed",
            format!(
                "{} did not complete within {}",
                pending.id, cx.obs.spec.savepoints.timeout
            ),
        );
        cx.st.pending_savepoint = None;
    } else {
        cx.requeue(5);
    }
}

/// With `savepoints.periodic` set: milliseconds until the next periodic savepoint is due (≤ 0: due now),
/// counted from the newest savepoint of any kind or from when the deployment became ready, whichever is
/// later. `None` without the setting or before the deployment was ever ready.
fn periodic_wait_ms(cx: &Ctx) -> Option<i64> {
    let interval = cx.obs.spec.savepoints.periodic?.interval;
    let interval = saturating::millis(interval);
    let last_savepoint = cx.st.savepoints.last().map(|s| &s.created_at);
    let since = [last_savepoint, cx.st.ready_since.as_ref()]
        .into_iter()
        .flatten()
        .map(|t| cx.ms_since(t))
        .min()?;
    Some(interval.saturating_sub(since))
}

fn checkpoint_nonce(cx: &mut Ctx) {
    if cx.obs.spec.checkpoint_trigger_nonce == cx.st.nonces.checkpoint {
        return;
    }
    let reachable: Vec<String> = cx
        .deployed_pods()
        .iter()
        .filter(|p| p.ip.is_some() && !p.finished())
        .map(|p| p.name.clone())
        .collect();
    if !reachable.is_empty() {
        cx.act(Action::TriggerCheckpoint { pods: reachable });
        cx.event(
            Severity::Normal,
            "CheckpointTriggered",
            "checkpointTriggerNonce changed",
        );
    }
    cx.st.nonces.checkpoint = cx.obs.spec.checkpoint_trigger_nonce;
}

/// Enforces `spec.savepointRetention`: keeps the newest savepoint and the one the deployment restored from,
/// drops the rest beyond the count or age limit and deletes them from the store.
pub fn retention(cx: &mut Ctx) {
    let policy = cx.obs.spec.savepoint_retention;
    let max_age = saturating::millis(policy.max_age);
    let len = cx.st.savepoints.len();
    let restored = cx.st.restored_from.clone();
    let mut keep = Vec::with_capacity(len);
    let mut expired = Vec::new();
    for (i, sp) in cx.st.savepoints.iter().enumerate() {
        let newest = i + 1 == len;
        let protected = newest || restored.as_deref() == Some(sp.location.as_str());
        let too_many = len - i > policy.max_count as usize;
        let too_old = cx.ms_since(&sp.created_at) > max_age;
        if !protected && (too_many || too_old) {
            expired.push(sp.clone());
        } else {
            keep.push(sp.clone());
        }
    }
    cx.st.savepoints = keep;
    for sp in expired {
        cx.event(
            Severity::Normal,
            "SavepointExpired",
            format!("{} ({})", sp.id, sp.location),
        );
        cx.act(Action::DeleteSavepoint {
            location: sp.location,
        });
    }
}

/// Where the deployed workers wrote savepoint `id` when none of them reported it: the directory their
/// spec's checkpoint store implies (see [`crate::validate::ValidatedJob::savepoint_location`]).
pub fn derived_location(cx: &Ctx, id: &str) -> Option<String> {
    cx.deployed.as_ref()?.savepoint_location(id)
}
