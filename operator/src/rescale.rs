//! The reconciler's side of the autoscaler: one in-memory [`Autoscaler`] per job, whose recommendation each
//! reconcile hands to `decide`, and executing a rescale by patching `spec.parallelism`.
//!
//! A rescale is only a spec change: the next reconcile sees a new generation and rolls it out through the
//! normal savepoint upgrade, exactly as after `kubectl scale`. The patch carries a JSON-patch `test` of the
//! parallelism the decision was made from, so a concurrent `kubectl scale` or HPA write wins and the
//! autoscaler starts over from the new layout instead of overwriting it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use sluice_crds::StreamJob;

use crate::autoscale::Autoscaler;
use crate::autoscale::recommend::{JobInput, Recommendation, Rescale, recommend};
use crate::error::Error;
use crate::reconcile::Observed;

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
    /// Feeds this reconcile's worker statuses to the job's autoscaler and returns its recommendation, for
    /// `decide` to fold into the status (`None`: the job never had autoscaler annotations).
    pub fn recommend(&self, job: &StreamJob, obs: &Observed) -> Option<Recommendation> {
        let input = JobInput {
            annotations: job.annotations(),
            spec: &obs.spec,
            generation: Some(obs.generation),
            status: &obs.status,
        };
        let statuses = obs.workers.values().filter_map(|w| w.status());
        // A poisoned lock only means another reconcile panicked mid-step; its autoscaler state is still a
        // valid (if partial) window.
        let mut all = self
            .by_job
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        recommend(
            all.entry(key(job)).or_default(),
            &input,
            statuses,
            obs.now.as_millisecond(),
        )
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
