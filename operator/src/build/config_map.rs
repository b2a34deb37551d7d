//! The job ConfigMap: `job.yaml` = `{job: spec.job, worker: {identity, partitions}}` where the worker part is
//! a placeholder every pod overrides with `SLUICE_WORKER_IDENTITY` / `SLUICE_WORKER_PARTITIONS`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde::Serialize;
use sluice_crds::JobConfig;

use super::JobMeta;
use crate::naming;
use crate::reconcile::Deployment;

/// Key of the worker config in the ConfigMap.
pub const JOB_KEY: &str = "job.yaml";
/// Where the model ConfigMap is mounted.
pub const MODEL_DIR: &str = "/etc/sluice-model";

#[derive(Serialize)]
struct WorkerFile<'a> {
    job: &'a JobConfig,
    worker: WorkerPlaceholder,
}

#[derive(Serialize)]
struct WorkerPlaceholder {
    identity: String,
    partitions: Vec<i32>,
}

/// The job config the workers read: `spec.job` with `modelPath` pointing at the mounted model.
pub fn job_config(d: &Deployment) -> JobConfig {
    let spec = d.job.spec();
    let mut job = spec.job.clone();
    if let Some(model) = &spec.model {
        job.model_path = Some(format!("{MODEL_DIR}/{}", model.config_map.key));
    }
    job
}

/// Renders the ConfigMap.
pub fn config_map(job: &JobMeta, d: &Deployment) -> Result<ConfigMap, serde_norway::Error> {
    let cfg = job_config(d);
    let body = serde_norway::to_string(&WorkerFile {
        job: &cfg,
        worker: WorkerPlaceholder {
            identity: "set-by-SLUICE_WORKER_IDENTITY".into(),
            partitions: Vec::new(),
        },
    })?;
    Ok(ConfigMap {
        metadata: job.meta(
            naming::config_map_name(&job.name),
            naming::selector_labels(&job.name),
        ),
        data: Some(BTreeMap::from([(JOB_KEY.to_string(), body)])),
        ..ConfigMap::default()
    })
}
