//! Stage "build", **pure**: renders the objects one deployment of a StreamJob owns — the job ConfigMap,
//! the headless Service, per-ordinal PVCs and worker Pods — from a [`Deployment`]. Nothing here reads the
//! cluster; the apply stage server-side-applies what these functions return.

pub mod config_map;
pub mod disruption_budget;
pub mod logging;
pub mod pod;

#[cfg(test)]
mod pod_tests;

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, Service, ServicePort, ServiceSpec,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sluice_crds::control::{CONTROL_PORT, METRICS_PORT};

use crate::naming;
use crate::reconcile::Deployment;

/// The size of a state PVC whose `spec.storage.size` is unset.
const DEFAULT_VOLUME_SIZE: &str = "10Gi";

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
    ConfigMap(#[from] serde_yaml::Error),
    #[error("worker ordinal {ordinal} is beyond the deployment's {parallelism} workers")]
    NoSuchOrdinal {
        ordinal: u32,
        parallelism: NonZeroU32,
    },
}

/// The headless Service giving each worker a stable DNS name (`<pod>.<service>`).
pub fn service(job: &JobMeta) -> Service {
    let port = |name: &str, port: u16| ServicePort {
        name: Some(name.to_string()),
        port: i32::from(port),
        ..ServicePort::default()
    };
    Service {
        metadata: job.meta(
            naming::service_name(&job.name),
            naming::selector_labels(&job.name),
        ),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(naming::selector_labels(&job.name)),
            publish_not_ready_addresses: Some(true),
            ports: Some(vec![
                port("control", CONTROL_PORT),
                port("metrics", METRICS_PORT),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The local-state PVC of one ordinal, when `spec.storage.volume` is `persistentVolumeClaim`.
pub fn pvc(job: &JobMeta, d: &Deployment, ordinal: u32) -> Option<PersistentVolumeClaim> {
    let storage = &d.job.spec().storage;
    if storage.volume != sluice_crds::VolumeKind::PersistentVolumeClaim {
        return None;
    }
    let size = storage
        .size
        .clone()
        .unwrap_or_else(|| DEFAULT_VOLUME_SIZE.into());
    Some(PersistentVolumeClaim {
        metadata: job.meta(
            naming::pvc_name(&job.name, ordinal),
            naming::selector_labels(&job.name),
        ),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_string(), Quantity(size))])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
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
