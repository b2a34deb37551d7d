//! The reconcile's working state while deciding: the observations, the status being decided, and the
//! actions, Events and requeue it accumulates. Read-only helpers answer the questions every stage asks
//! (which pods are deployed, are they all ready, how long since a time).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use sluice_crds::{StreamJobStatus, WARNING_HISTORY, WarningRecord};

use crate::reconcile::{Action, Observed, ObservedPod, Plan, Problem, Severity, Transition};
use crate::saturating;
use crate::validate::{ValidatedJob, Validation};

/// Default re-check interval when nothing is pending.
const IDLE_REQUEUE_SECS: u64 = 60;
/// The parallelism of no deployment (also what a negative `status.parallelism`, which no operator writes,
/// reads as).
const NOTHING_DEPLOYED: u32 = 0;

/// The current spec, validated, with the fingerprint a deployment of it gets.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    pub job: &'a ValidatedJob,
    pub hash: String,
}

/// The reconcile's working state while deciding.
pub struct Ctx<'a> {
    pub obs: &'a Observed,
    /// What the current spec would run, or the problems that keep it from rolling out.
    pub target: Result<Target<'a>, &'a [Problem]>,
    /// The deployed spec (`status.lastReconciledSpec`), read back once per reconcile; kept in step with the
    /// status by [`Ctx::record_deployed`].
    pub deployed: Option<ValidatedJob>,
    /// `status.lastStableSpec`, read back once per reconcile; kept in step by [`Ctx::record_stable`].
    pub stable: Option<ValidatedJob>,
    pub st: StreamJobStatus,
    pub actions: Vec<Action>,
    pub events: Vec<Transition>,
    pub requeue_secs: u64,
    /// Why nothing progresses although something is wanted (Progressing=False reason, message).
    pub waiting: Option<(&'static str, String)>,
    /// Why the job is degraded right now (Degraded=True reason, message), besides the persisted ones.
    pub degraded: Option<(&'static str, String)>,
    /// The latest worker restart seen by this reconcile (pod, count, last exit), for the failure message.
    pub last_restart: Option<String>,
    /// The autoscaler's rescale to execute after apply.
    pub rescale: Option<crate::autoscale::recommend::Rescale>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(obs: &'a Observed, validation: &'a Validation) -> Ctx<'a> {
        let model_hash = obs.model_hash.as_deref();
        let target = match validation {
            Ok(job) => Ok(Target {
                job,
                hash: job.fingerprint(model_hash),
            }),
            Err(problems) => Err(problems.as_slice()),
        };
        Ctx {
            obs,
            target,
            deployed: ValidatedJob::stored(obs.status.last_reconciled_spec.as_deref()),
            stable: ValidatedJob::stored(obs.status.last_stable_spec.as_deref()),
            st: obs.status.clone(),
            actions: Vec::new(),
            events: Vec::new(),
            requeue_secs: IDLE_REQUEUE_SECS,
            waiting: None,
            degraded: None,
            last_restart: None,
            rescale: None,
        }
    }

    /// The current spec is valid and is not what is deployed: a rollout is wanted (unless blocked).
    pub fn spec_changed(&self) -> bool {
        self.target
            .as_ref()
            .is_ok_and(|t| self.st.deployed_hash.as_deref() != Some(t.hash.as_str()))
    }

    /// The fingerprint of a deployment of `job` with the model content observed now.
    pub fn fingerprint_of(&self, job: &ValidatedJob) -> String {
        job.fingerprint(self.obs.model_hash.as_deref())
    }

    /// Records `job` as the deployed spec (`status.lastReconciledSpec`).
    pub fn record_deployed(&mut self, job: &ValidatedJob) {
        self.st.last_reconciled_spec = Some(job.spec_json().to_string());
        self.deployed = Some(job.clone());
    }

    /// Records the deployed spec as the stable one (`status.lastStableSpec`).
    pub fn record_stable(&mut self) {
        self.st
            .last_stable_spec
            .clone_from(&self.st.last_reconciled_spec);
        self.stable.clone_from(&self.deployed);
    }

    pub fn act(&mut self, action: Action) {
        self.actions.push(action);
    }

    /// Deletes these pods (nothing when the list is empty).
    pub fn delete_pods(&mut self, names: Vec<String>) {
        if !names.is_empty() {
            self.actions.push(Action::DeletePods(names));
        }
    }

    /// Deletes every live pod of the job, whatever it runs.
    pub fn delete_live_pods(&mut self) {
        let names = self.live_pod_names();
        self.delete_pods(names);
    }

    /// Deletes every live pod and says whether none is left; while one remains (live ones are being
    /// deleted, terminating ones are going) it reconciles again in 2 s. New pods reuse the old names, and
    /// two workers of one ordinal must never run at once, so nothing is deployed before this is true.
    pub fn clear_pods(&mut self) -> bool {
        self.delete_live_pods();
        if self.obs.pods.is_empty() {
            return true;
        }
        self.requeue(2);
        false
    }

    pub fn event(&mut self, severity: Severity, reason: &'static str, note: impl Into<String>) {
        self.events.push(Transition {
            severity,
            reason,
            note: note.into(),
        });
    }

    /// Reconcile again within `secs` (the smallest request wins).
    pub fn requeue(&mut self, secs: u64) {
        self.requeue_secs = self.requeue_secs.min(secs.max(1));
    }

    /// Reconcile again once `ms` milliseconds have passed (rounded up to a second; at once when not
    /// positive).
    pub fn requeue_in_ms(&mut self, ms: i64) {
        self.requeue(ms.max(0).unsigned_abs().div_ceil(1000));
    }

    pub fn now(&self) -> Time {
        Time(self.obs.now)
    }

    /// Milliseconds from `t` to now (negative if `t` is in the future).
    pub fn ms_since(&self, t: &Time) -> i64 {
        self.obs.now.as_millisecond() - t.0.as_millisecond()
    }

    /// A rollout (or rollback) deployed at `since` has missed `rollback.readinessTimeout`.
    pub fn past_readiness_timeout(&self, since: &Time) -> bool {
        self.ms_since(since) > saturating::millis(self.obs.spec.rollback.readiness_timeout)
    }

    pub fn now_ms(&self) -> i64 {
        self.obs.now.as_millisecond()
    }

    /// Pods that are not being deleted.
    pub fn live_pods(&self) -> impl Iterator<Item = &'a ObservedPod> {
        self.obs.pods.iter().filter(|p| !p.terminating)
    }

    /// Live pods of the deployed fingerprint.
    pub fn deployed_pods(&self) -> Vec<&'a ObservedPod> {
        let hash = self.st.deployed_hash.clone();
        self.live_pods()
            .filter(|p| hash.is_some() && p.hash == hash)
            .collect()
    }

    /// Deployed parallelism (0 when nothing is deployed). Read from `status.parallelism`, which `install`
    /// writes with the deployed spec and a suspend sets to 0.
    pub fn deployed_parallelism(&self) -> u32 {
        match (&self.st.deployed_hash, self.st.parallelism) {
            (Some(_), Some(p)) => u32::try_from(p).unwrap_or(NOTHING_DEPLOYED),
            _ => NOTHING_DEPLOYED,
        }
    }

    /// Every deployed ordinal has a ready pod whose worker reports `running` (or has not answered yet but
    /// is ready, which the readiness probe already vouches for).
    pub fn all_ready(&self) -> bool {
        let n = self.deployed_parallelism();
        if n == 0 {
            return false;
        }
        let pods = self.deployed_pods();
        (0..n).all(|o| {
            pods.iter()
                .any(|p| p.ordinal == o && p.ready && !p.finished())
        })
    }

    /// All deployed workers are ready *and* answer their control API in phase `running`: what a
    /// stop-with-savepoint needs.
    pub fn healthy(&self) -> bool {
        if !self.all_ready() {
            return false;
        }
        self.deployed_pods().iter().all(|p| {
            self.obs
                .workers
                .get(&p.name)
                .and_then(|w| w.status())
                .is_some_and(|s| s.phase == sluice_crds::control::WorkerPhase::Running)
        })
    }

    /// Names of all live pods (any fingerprint).
    pub fn live_pod_names(&self) -> Vec<String> {
        self.live_pods().map(|p| p.name.clone()).collect()
    }

    /// `spec.savepoints.timeout` in milliseconds: how long any savepoint may take.
    pub fn savepoint_timeout_ms(&self) -> i64 {
        saturating::millis(self.obs.spec.savepoints.timeout)
    }

    /// Is the current generation blocked from being rolled out?
    pub fn generation_blocked(&self) -> bool {
        self.st
            .blocked_generation
            .as_ref()
            .is_some_and(|b| b.generation == self.obs.generation)
    }

    /// Appends this reconcile's Warning transitions to `status.warningHistory`, keeping the newest.
    pub(super) fn record_warnings(&mut self) {
        let now = self.now();
        let warnings = self
            .events
            .iter()
            .filter(|e| e.severity == Severity::Warning);
        let history = &mut self.st.warning_history;
        history.extend(warnings.map(|e| WarningRecord {
            time: now.clone(),
            reason: e.reason.to_string(),
            message: e.note.chars().take(1000).collect(),
        }));
        let len = history.len();
        if len > WARNING_HISTORY {
            history.drain(..len - WARNING_HISTORY);
        }
    }

    pub(super) fn finish(self) -> Plan {
        Plan {
            status: self.st,
            actions: self.actions,
            events: self.events,
            requeue_secs: self.requeue_secs,
            rescale: self.rescale,
        }
    }
}

/// A timestamp from unix milliseconds (the epoch when out of range).
pub fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}
