//! Stage "build", **pure**: runs after `decide` and before `apply`, and renders every deployment step of the
//! decision into the objects it applies — the job ConfigMap, the headless Service, the disruption budget,
//! and the PVC and Pod of each worker to create — from the [`Deployment`]'s validated job. The other
//! actions pass through unchanged. Nothing here reads the cluster; the apply stage server-side-applies what
//! this returns, in order.

pub mod config_map;
pub mod disruption_budget;
pub mod logging;
pub mod pod;
pub mod service;
pub mod volume_claim;

#[cfg(test)]
mod pod_tests;

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::reconcile::{Action, Deploy, Deployment};

/// Identity of the owning StreamJob.
#[derive(Clone, Debug)]
pub struct JobMeta {
    pub name: String,
    pub namespace: String,
    pub owner: OwnerReference,
}

impl JobMeta {
    /// The job's uid (its owner reference cannot be made without one): keys what is remembered per job.
    pub fn uid(&self) -> &str {
        &self.owner.uid
    }

    pub fn meta(&self, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(labels),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }
}

/// Why a deployment could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("rendering the job ConfigMap: {0}")]
    ConfigMap(#[from] serde_norway::Error),
    #[error("worker ordinal {ordinal} is beyond the deployment's {parallelism} workers")]
    NoSuchOrdinal {
        ordinal: u32,
        parallelism: NonZeroU32,
    },
}

/// The objects one deployment step applies.
#[derive(Clone, Debug, PartialEq)]
pub struct DeployObjects {
    pub config_map: ConfigMap,
    pub service: Service,
    /// The workers' PodDisruptionBudget; `None` when the spec disables it (an existing one is removed).
    pub disruption_budget: Option<PodDisruptionBudget>,
    /// One per worker to create, in ordinal order.
    pub workers: Vec<WorkerObjects>,
}

/// A worker to create: its state PVC (when the spec asks for one) and its pod.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerObjects {
    pub volume_claim: Option<PersistentVolumeClaim>,
    pub pod: Pod,
}

/// What the apply stage executes: an action, its deployment rendered.
pub type Step = Action<DeployObjects>;

/// Renders the deployment steps of `actions`, keeping their order.
pub fn steps(job: &JobMeta, actions: Vec<Action>) -> Result<Vec<Step>, BuildError> {
    actions
        .into_iter()
        .map(|a| a.try_map_deploy(|d| deploy_objects(job, &d)))
        .collect()
}

/// The objects of one deployment step.
pub fn deploy_objects(job: &JobMeta, deploy: &Deploy) -> Result<DeployObjects, BuildError> {
    let d: &Deployment = &deploy.deployment;
    let spec = d.job.spec();
    let workers = deploy
        .create_ordinals
        .iter()
        .map(|&ordinal| {
            Ok(WorkerObjects {
                volume_claim: volume_claim::pvc(job, spec, ordinal),
                pod: pod::pod(job, d, ordinal)?,
            })
        })
        .collect::<Result<_, BuildError>>()?;
    Ok(DeployObjects {
        config_map: config_map::config_map(job, d)?,
        service: service::service(job),
        disruption_budget: disruption_budget::disruption_budget(job, spec),
        workers,
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::JobMeta;

    pub fn job_meta() -> JobMeta {
        JobMeta {
            name: "fraud".into(),
            namespace: "ns".into(),
            owner: OwnerReference {
                api_version: "sluice.dev/v1alpha1".into(),
                kind: "StreamJob".into(),
                name: "fraud".into(),
                uid: "uid-1".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
        }
    }
}
