//! The reconciler's side of the autoscaler: one in-memory [`Autoscaler`] per job, folding each step into
//! the reconcile's decision, and executing a rescale by patching `spec.parallelism`.
//!
//! A rescale is only a spec change: the next reconcile sees a new generation and rolls it out through the
//! normal savepoint upgrade, exactly as after `kubectl scale`. The patch carries a JSON-patch `test` of the
//! parallelism the decision was made from, so a concurrent `kubectl scale` or HPA write wins and the
//! autoscaler starts over from the new layout instead of overwriting it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use sluice_crds::StreamJob;

use crate::autoscale::Autoscaler;
use crate::autoscale::step::{JobInput, Rescale, step};
use crate::decide::conditions::upsert;
use crate::error::Error;
use crate::model::{Decision, Observed, Severity, Transition};

/// Condition type saying whether autoscaling is on, off, or paused by an invalid annotation (named in its
/// message). Present only on jobs that have (or had) `sluice.dev/autoscale*` annotations.
pub const AUTOSCALING_CONDITION: &str = "Autoscaling";

/// The autoscalers of every job this replica reconciles, by namespace/name/uid (a re-created job starts
/// empty). Lost on restart or leader change, which only delays the next decision by one metrics window.
#[derive(Default)]
pub struct Autoscalers {
    by_job: Mutex<BTreeMap<String, Autoscaler>>,
}

fn key(job: &StreamJob) -> String {
    format!(
        "{}/{}/{}",
        job.namespace().unwrap_or_default(),
        job.name_any(),
        job.uid().unwrap_or_default()
    )
}

impl Autoscalers {
    /// Runs the job's autoscaler on this reconcile's observations and folds the result into `decision`
    /// (its `status.autoscaler`, an Event, a shorter requeue while sampling). Returns the rescale to execute
    /// after the status is written.
    pub fn run(&self, job: &StreamJob, obs: &Observed, decision: &mut Decision) -> Option<Rescale> {
        let input = JobInput {
            annotations: job.annotations(),
            spec: &obs.spec,
            generation: Some(obs.generation),
            previous: obs.status.autoscaler.as_ref(),
            next: &decision.status,
        };
        let statuses = obs.workers.values().filter_map(|w| w.status());
        let now_ms = obs.now.as_millisecond();
        let outcome = {
            // A poisoned lock only means another reconcile panicked mid-step; its autoscaler state is still
            // a valid (if partial) window.
            let mut all = self
                .by_job
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            step(all.entry(key(job)).or_default(), &input, statuses, now_ms)
        }?;
        decision.status.autoscaler = Some(outcome.status);
        let (ok, reason, message) = outcome.condition;
        upsert(
            &mut decision.status.conditions,
            AUTOSCALING_CONDITION,
            ok,
            reason,
            message,
            Time(obs.now),
            Some(obs.generation),
        );
        if let Some(e) = outcome.event {
            let severity = if e.warning {
                Severity::Warning
            } else {
                Severity::Normal
            };
            decision.events.push(Transition {
                severity,
                reason: e.reason,
                note: e.note,
            });
        }
        if let Some(every) = outcome.sample_every {
            decision.requeue_secs = decision.requeue_secs.min(every.as_secs().max(1));
        }
        outcome.scale
    }

    /// Forgets a deleted job.
    pub fn forget(&self, job: &StreamJob) {
        self.by_job
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key(job));
    }
}

/// Sets `spec.parallelism` to `r.to` if it is still `r.from`. Returns whether it was set; a concurrent
/// change (the `test` op fails with 422) is not an error.
pub async fn set_parallelism(
    client: &kube::Client,
    job: &StreamJob,
    r: Rescale,
) -> Result<bool, Error> {
    let ns = job
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = job.name_any();
    let ops = serde_json::json!([
        {"op": "test", "path": "/spec/parallelism", "value": r.from},
        {"op": "replace", "path": "/spec/parallelism", "value": r.to},
    ]);
    let patch: json_patch::Patch = serde_json::from_value(ops).map_err(|e| Error::Render {
        what: "the autoscaler's parallelism patch",
        message: e.to_string(),
    })?;
    let api: Api<StreamJob> = Api::namespaced(client.clone(), &ns);
    let params = PatchParams {
        field_manager: Some("sluice-autoscaler".into()),
        ..PatchParams::default()
    };
    match api.patch(&name, &params, &Patch::Json::<()>(patch)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 422 || e.code == 409 => {
            tracing::info!(job = %name, from = r.from, to = r.to, "parallelism changed meanwhile; rescale dropped");
            Ok(false)
        }
        Err(e) => Err(Error::kube(
            "patch",
            format!("StreamJob {name} spec.parallelism"),
        )(e)),
    }
}
