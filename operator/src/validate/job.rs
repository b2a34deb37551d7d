//! [`ValidatedJob`]: a StreamJob spec with the values later stages need already checked and typed — the
//! worker count and partition count as non-zero numbers, each worker's partitions, the parsed checkpoint
//! store, the spec's status and fingerprint JSON. `decide` and `build` read these instead of converting raw
//! fields again, so a spec that got this far cannot make them fall back to a default.

use std::num::NonZeroU32;
use std::ops::Range;

use sluice_crds::assignment::assign_partitions;
use sluice_crds::snapshot_layout::Layout;
use sluice_crds::{StoreUri, StreamJobSpec};

use super::pod_template::{self, WorkerTemplate};
use crate::fingerprint;
use crate::reconcile::Problem;

/// A spec that may be deployed. Made by [`super::validate`] from the current spec once every rule holds, or
/// read back from a spec the status stored when it was deployed ([`ValidatedJob::stored`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedJob {
    spec: StreamJobSpec,
    parallelism: NonZeroU32,
    partitions: NonZeroU32,
    /// The partitions of each worker, by ordinal: `parallelism` lists, none empty.
    assignment: Vec<Vec<i32>>,
    checkpoint_store: Option<StoreUri>,
    /// `spec.podTemplate`, parsed and checked.
    pod_template: WorkerTemplate,
    /// The spec as `status.lastReconciledSpec` / `lastStableSpec` store it.
    spec_json: String,
    /// What the deployment fingerprint hashes (see [`fingerprint`]).
    deploy_json: String,
}

impl ValidatedJob {
    /// Converts the fields later stages use; each one that does not convert is a problem naming it. The
    /// rules that need no conversion (the job config, logging, references) are [`super::validate`]'s.
    pub(crate) fn from_spec(spec: StreamJobSpec) -> Result<ValidatedJob, Vec<Problem>> {
        let (parallelism, partitions) = worker_counts(&spec)?;
        let checkpoint_store = match spec.job.state.checkpoint_store.as_deref() {
            None => None,
            Some(uri) => Some(
                uri.parse::<StoreUri>()
                    .map_err(|e| vec![problem("spec.job.state.checkpointStore", e.to_string())])?,
            ),
        };
        let pod_template = pod_template::resolve(&spec)?;
        let unserializable = |e: serde_json::Error| vec![problem("spec", e.to_string())];
        let spec_json = serde_json::to_string(&spec).map_err(unserializable)?;
        let deploy_json = fingerprint::deploy_relevant_json(&spec).map_err(unserializable)?;
        Ok(ValidatedJob {
            assignment: assign_partitions(partitions.get(), parallelism.get()),
            spec,
            parallelism,
            partitions,
            checkpoint_store,
            pod_template,
            spec_json,
            deploy_json,
        })
    }

    /// A spec the status stored (`lastReconciledSpec`, `lastStableSpec`). It was validated when it was
    /// deployed, so only its conversions are repeated. `None` when absent, unreadable (an older operator's
    /// format) or no longer convertible — all three mean "no such spec to go back to".
    pub fn stored(json: Option<&str>) -> Option<ValidatedJob> {
        let spec = serde_json::from_str(json?).ok()?;
        ValidatedJob::from_spec(spec).ok()
    }

    /// The spec as written by the user (for the fields that need no conversion).
    pub fn spec(&self) -> &StreamJobSpec {
        &self.spec
    }

    pub fn parallelism(&self) -> NonZeroU32 {
        self.parallelism
    }

    pub fn partitions(&self) -> NonZeroU32 {
        self.partitions
    }

    /// Every worker ordinal: `0..parallelism`.
    pub fn ordinals(&self) -> Range<u32> {
        0..self.parallelism.get()
    }

    /// The partitions worker `ordinal` owns; `None` for an ordinal beyond the parallelism.
    pub fn partitions_of(&self, ordinal: u32) -> Option<&[i32]> {
        let index = usize::try_from(ordinal).ok()?;
        self.assignment.get(index).map(Vec::as_slice)
    }

    /// The pod template merged over every worker pod.
    pub fn pod_template(&self) -> &WorkerTemplate {
        &self.pod_template
    }

    pub fn checkpoint_store(&self) -> Option<&StoreUri> {
        self.checkpoint_store.as_ref()
    }

    /// The savepoint directory the workers write for savepoint `id`, per the control API contract:
    /// `<checkpointStore>/<transactionalIdPrefix>/savepoints/<id>`. `None` without a checkpoint store.
    pub fn savepoint_location(&self, id: &str) -> Option<String> {
        let prefix = &self.spec.job.transactional_id_prefix;
        let store = self.checkpoint_store.as_ref()?;
        Some(store.uri_of(&Layout::new(prefix).savepoint_dir(id)))
    }

    /// The spec as the status stores it.
    pub fn spec_json(&self) -> &str {
        &self.spec_json
    }

    /// The fingerprint of a deployment of this spec with model content hash `model_hash`.
    pub fn fingerprint(&self, model_hash: Option<&str>) -> String {
        fingerprint::fingerprint(&self.deploy_json, model_hash)
    }
}

fn problem(field: &str, message: impl Into<String>) -> Problem {
    Problem {
        field: field.into(),
        message: message.into(),
    }
}

/// `spec.parallelism` and `spec.partitions` as counts: at least one worker, and no more workers than
/// partitions (a worker without a partition would idle). Also the rule [`super::spec_problems`] reports.
pub(super) fn worker_counts(
    spec: &StreamJobSpec,
) -> Result<(NonZeroU32, NonZeroU32), Vec<Problem>> {
    let count = |n: i32| u32::try_from(n).ok().and_then(NonZeroU32::new);
    let parallelism = count(spec.parallelism);
    let partitions = count(spec.partitions).filter(|p| parallelism.is_some_and(|w| w <= *p));
    if let (Some(w), Some(p)) = (parallelism, partitions) {
        return Ok((w, p));
    }
    let mut problems = Vec::new();
    if parallelism.is_none() {
        problems.push(problem("spec.parallelism", "must be at least 1"));
    }
    if spec.parallelism > spec.partitions {
        problems.push(problem(
            "spec.parallelism",
            format!(
                "{} workers for {} partitions would leave workers without a partition",
                spec.parallelism, spec.partitions
            ),
        ));
    }
    // Never empty: a parallelism of at least one that found no partitions exceeds `spec.partitions`.
    Err(problems)
}
