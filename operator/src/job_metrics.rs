//! Per-job operator metrics: what the chart's alerts ask of a job (FAILED, rolled back, savepoints failing, no
//! checkpoint for a while) without reading the status of every StreamJob.
//!
//! **Labels.** `namespace` and `streamjob` — one series per job, so the series count is bounded by the number
//! of StreamJobs (a deliberate, documented choice: a platform runs tens to hundreds of jobs, not millions);
//! plus, on `sluice_operator_job_state`, the lifecycle state from a fixed list of nine. Durations are
//! histograms labelled only by a fixed enum (upgrade reason, savepoint trigger), never by job. A deleted job's
//! series are removed. Only the leader reconciles, so only the leader has job series: alerts take `max by`.
//!
//! [`observe`] is pure (what one reconcile's plan says happened); [`JobMetrics::record`] writes it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use k8s_openapi::jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sluice_crds::{
    LifecycleState, SavepointTrigger, StreamJobSpec, StreamJobStatus, UpgradeReason,
};

use crate::reconcile::Plan;

/// Every lifecycle state and its name, as `status.lifecycleState` writes it.
const STATES: [(LifecycleState, &str); 9] = [
    (LifecycleState::Created, "CREATED"),
    (LifecycleState::Deploying, "DEPLOYING"),
    (LifecycleState::Running, "RUNNING"),
    (LifecycleState::Upgrading, "UPGRADING"),
    (LifecycleState::Suspended, "SUSPENDED"),
    (LifecycleState::RollingBack, "ROLLING_BACK"),
    (LifecycleState::RolledBack, "ROLLED_BACK"),
    (LifecycleState::Failed, "FAILED"),
    (LifecycleState::Stable, "STABLE"),
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct JobLabels {
    pub namespace: String,
    pub streamjob: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    namespace: String,
    streamjob: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TriggerLabel {
    trigger: &'static str,
}

/// What one reconcile says about its job.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobObservation {
    pub state: Option<LifecycleState>,
    /// Unix seconds of the newest savepoint in the history.
    pub last_savepoint: Option<f64>,
    /// The checkpoint the whole job is restorable to (the oldest of the workers' latest).
    pub checkpoint_id: Option<String>,
    pub checkpoint_interval_secs: f64,
    pub savepoint_failures: u64,
    pub rollbacks: u64,
    pub restarts: u64,
    /// An upgrade that ended in this reconcile: its reason and seconds from start to end.
    pub upgrade_ended: Option<(&'static str, f64)>,
    /// Savepoints completed in this reconcile: trigger and seconds from request to completion.
    pub savepoints_completed: Vec<(&'static str, f64)>,
}

fn unix_secs(t: Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1000.0
}

fn reason_name(r: UpgradeReason) -> &'static str {
    match r {
        UpgradeReason::Initial => "initial",
        UpgradeReason::SpecChange => "spec-change",
        UpgradeReason::Suspend => "suspend",
        UpgradeReason::Restart => "restart",
        UpgradeReason::Redeploy => "redeploy",
    }
}

fn trigger_name(t: SavepointTrigger) -> &'static str {
    match t {
        SavepointTrigger::Upgrade => "upgrade",
        SavepointTrigger::Suspend => "suspend",
        SavepointTrigger::Manual => "manual",
        SavepointTrigger::Periodic => "periodic",
        SavepointTrigger::Deletion => "deletion",
    }
}

/// What `plan` (decided for `spec` from `before`, the persisted status) says happened, at `now`.
pub fn observe(
    spec: &StreamJobSpec,
    before: &StreamJobStatus,
    plan: &Plan,
    now: Timestamp,
) -> JobObservation {
    let after = &plan.status;
    let count = |reason: &str| plan.events.iter().filter(|e| e.reason == reason).count() as u64;
    let upgrade_ended = match (&before.upgrade, &after.upgrade) {
        (Some(up), None) => Some((
            reason_name(up.reason),
            (unix_secs(now) - unix_secs(up.started_at.0)).max(0.0),
        )),
        _ => None,
    };
    let known: Vec<&str> = before.savepoints.iter().map(|s| s.id.as_str()).collect();
    let savepoints_completed = after
        .savepoints
        .iter()
        .filter(|s| !known.contains(&s.id.as_str()))
        .filter_map(|s| {
            // Requested when the running savepoint started, or when the upgrade (or suspend) that stopped
            // the job with it started.
            let requested = match s.trigger {
                SavepointTrigger::Manual | SavepointTrigger::Periodic => {
                    before.pending_savepoint.as_ref().map(|p| p.started_at.0)
                }
                _ => before.upgrade.as_ref().map(|u| u.started_at.0),
            }?;
            let secs = unix_secs(s.created_at.0) - unix_secs(requested);
            Some((trigger_name(s.trigger), secs.max(0.0)))
        })
        .collect();
    JobObservation {
        state: after.lifecycle_state,
        last_savepoint: after.savepoints.last().map(|s| unix_secs(s.created_at.0)),
        checkpoint_id: after
            .job
            .as_ref()
            .and_then(|j| j.last_checkpoint.as_ref())
            .map(|c| c.id.clone()),
        checkpoint_interval_secs: spec.job.state.checkpoint_interval.as_millis() as f64 / 1000.0,
        // A savepoint a worker reports failed or that outlives `savepoints.timeout`; `SavepointExpired` is the
        // retention policy retiring an old savepoint, not a failure.
        savepoint_failures: count("SavepointFailed"),
        rollbacks: count("RollbackStarted"),
        restarts: count("WorkerRestarted"),
        upgrade_ended,
        savepoints_completed,
    }
}

/// The per-job families, registered in the operator's registry.
pub struct JobMetrics {
    state: Family<StateLabels, Gauge>,
    last_savepoint: Family<JobLabels, Gauge<f64, AtomicU64>>,
    last_checkpoint: Family<JobLabels, Gauge<f64, AtomicU64>>,
    checkpoint_interval: Family<JobLabels, Gauge<f64, AtomicU64>>,
    savepoint_failures: Family<JobLabels, Counter>,
    rollbacks: Family<JobLabels, Counter>,
    restarts: Family<JobLabels, Counter>,
    upgrade_duration: Family<ReasonLabel, Histogram, fn() -> Histogram>,
    savepoint_duration: Family<TriggerLabel, Histogram, fn() -> Histogram>,
    /// Per job: the restorable checkpoint's id and when this process first saw it.
    checkpoints_seen: Mutex<BTreeMap<JobLabels, (String, f64)>>,
}

/// 1 s … about 9 h: upgrades and savepoints take seconds to hours.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

impl JobMetrics {
    pub fn register(registry: &mut Registry) -> JobMetrics {
        let m = JobMetrics {
            state: Family::default(),
            last_savepoint: Family::default(),
            last_checkpoint: Family::default(),
            checkpoint_interval: Family::default(),
            savepoint_failures: Family::default(),
            rollbacks: Family::default(),
            restarts: Family::default(),
            upgrade_duration: Family::new_with_constructor(duration_histogram),
            savepoint_duration: Family::new_with_constructor(duration_histogram),
            checkpoints_seen: Mutex::new(BTreeMap::new()),
        };
        let r = registry;
        r.register(
            "job_state",
            "1 for the job's lifecycle state (status.lifecycleState), 0 for the others",
            m.state.clone(),
        );
        r.register(
            "job_last_savepoint_timestamp_seconds",
            "When the newest savepoint in the job's history completed (unix seconds)",
            m.last_savepoint.clone(),
        );
        r.register(
            "job_last_checkpoint_timestamp_seconds",
            "When this operator process first saw the checkpoint the whole job is restorable to (unix seconds)",
            m.last_checkpoint.clone(),
        );
        r.register(
            "job_checkpoint_interval_seconds",
            "The job's spec.job.state.checkpointInterval",
            m.checkpoint_interval.clone(),
        );
        r.register(
            "job_savepoint_failures",
            "Savepoints that failed or timed out",
            m.savepoint_failures.clone(),
        );
        r.register(
            "job_rollbacks",
            "Rollbacks to the last stable spec",
            m.rollbacks.clone(),
        );
        r.register(
            "job_restarts",
            "Worker restarts the operator observed",
            m.restarts.clone(),
        );
        r.register(
            "upgrade_duration_seconds",
            "Upgrade, suspend and restart durations by reason, from start to end",
            m.upgrade_duration.clone(),
        );
        r.register(
            "savepoint_duration_seconds",
            "Savepoint durations by trigger, from request to completion",
            m.savepoint_duration.clone(),
        );
        m
    }

    /// Writes one reconcile's observation of job `job` at `now`.
    pub fn record(&self, job: &JobLabels, o: &JobObservation, now: Timestamp) {
        for (state, name) in STATES {
            let labels = StateLabels {
                namespace: job.namespace.clone(),
                streamjob: job.streamjob.clone(),
                state: name,
            };
            self.state
                .get_or_create(&labels)
                .set(i64::from(o.state == Some(state)));
        }
        if let Some(t) = o.last_savepoint {
            self.last_savepoint.get_or_create(job).set(t);
        }
        if let Some(id) = &o.checkpoint_id {
            let mut seen = self
                .checkpoints_seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let entry = seen
                .entry(job.clone())
                .or_insert_with(|| (id.clone(), unix_secs(now)));
            if entry.0 != *id {
                *entry = (id.clone(), unix_secs(now));
            }
            self.last_checkpoint.get_or_create(job).set(entry.1);
        }
        self.checkpoint_interval
            .get_or_create(job)
            .set(o.checkpoint_interval_secs);
        self.savepoint_failures
            .get_or_create(job)
            .inc_by(o.savepoint_failures);
        self.rollbacks.get_or_create(job).inc_by(o.rollbacks);
        self.restarts.get_or_create(job).inc_by(o.restarts);
        if let Some((reason, secs)) = o.upgrade_ended {
            self.upgrade_duration
                .get_or_create(&ReasonLabel { reason })
                .observe(secs);
        }
        for (trigger, secs) in &o.savepoints_completed {
            self.savepoint_duration
                .get_or_create(&TriggerLabel { trigger })
                .observe(*secs);
        }
    }

    /// Removes every job series: a replica that stops leading stops reconciling, so what it recorded would
    /// only go stale (the new leader exports the jobs from then on).
    pub fn clear(&self) {
        self.state.clear();
        for family in [
            &self.last_savepoint,
            &self.last_checkpoint,
            &self.checkpoint_interval,
        ] {
            family.clear();
        }
        for family in [&self.savepoint_failures, &self.rollbacks, &self.restarts] {
            family.clear();
        }
        self.checkpoints_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Removes a deleted job's series.
    pub fn forget(&self, job: &JobLabels) {
        for (_, name) in STATES {
            self.state.remove(&StateLabels {
                namespace: job.namespace.clone(),
                streamjob: job.streamjob.clone(),
                state: name,
            });
        }
        for family in [
            &self.last_savepoint,
            &self.last_checkpoint,
            &self.checkpoint_interval,
        ] {
            family.remove(job);
        }
        for family in [&self.savepoint_failures, &self.rollbacks, &self.restarts] {
            family.remove(job);
        }
        self.checkpoints_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(job);
    }
}

#[cfg(test)]
#[path = "job_metrics_tests.rs"]
mod tests;
