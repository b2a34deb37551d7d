//! The local-state PersistentVolumeClaim of one worker ordinal, when `spec.storage.volume` is
//! `persistentVolumeClaim`. PVC specs are immutable once bound, so the apply stage creates a missing one and
//! never re-applies an existing one.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use sluice_crds::{StreamJobSpec, VolumeKind};

use super::JobMeta;
use crate::naming;

/// The size of a state PVC whose `spec.storage.size` is unset.
const DEFAULT_SIZE: &str = "10Gi";

/// The PVC of worker `ordinal`; `None` when the state lives in an emptyDir.
pub fn pvc(job: &JobMeta, spec: &StreamJobSpec, ordinal: u32) -> Option<PersistentVolumeClaim> {
    let storage = &spec.storage;
    if storage.volume != VolumeKind::PersistentVolumeClaim {
        return None;
    }
    let size = storage.size.clone().unwrap_or_else(|| DEFAULT_SIZE.into());
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
