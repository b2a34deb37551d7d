//! One worker Pod per ordinal, assembled from small pieces: its environment (`env`: identity, partitions,
//! fencing, restore, credentials), its volumes (`volumes`), its container and security context
//! (`container`). `restartPolicy: OnFailure`: the kubelet restarts a crashed worker in place (keeping its
//! local state), while a worker that exits 0 after stop-with-savepoint stays stopped — the operator
//! decides what runs next.

mod container;
mod env;
mod template;
mod volumes;

pub use container::pod_security;
pub use env::fence_ids;
pub use volumes::{
    CONFIG_DIR, KAFKA_SASL_DIR, KAFKA_TLS_DIR, OPERATOR_VOLUMES, STATE_KEYS_DIR, TOKEN_DIR,
};

/// The worker container's name (a pod template's container of this name is merged into it).
pub const WORKER_CONTAINER: &str = "worker";

use k8s_openapi::api::core::v1::{EnvVar, Pod, PodSpec, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{BuildError, JobMeta};
use crate::naming;
use crate::reconcile::Deployment;

/// How long a worker may take to stop (final commit, local checkpoint) before it is killed.
const TERMINATION_GRACE_SECONDS: i64 = 60;

/// What a pod is assembled from: its container's environment and mounts, and the pod's volumes.
#[derive(Default)]
struct Parts {
    env: Vec<EnvVar>,
    volumes: Vec<Volume>,
    mounts: Vec<VolumeMount>,
}

impl Parts {
    fn volume(&mut self, volume: Volume, path: &str, read_only: bool) {
        self.mounts
            .push(volumes::mount(&volume.name, path, read_only));
        self.volumes.push(volume);
    }
}

/// Renders the pod of worker `ordinal` of deployment `d`.
pub fn pod(job: &JobMeta, d: &Deployment, ordinal: u32) -> Result<Pod, BuildError> {
    let name = naming::worker_pod_name(&job.name, ordinal);
    let parts = parts(job, d, ordinal)?;
    Ok(Pod {
        metadata: metadata(job, d, name.clone(), ordinal),
        spec: Some(pod_spec(job, d, name, parts)),
        ..Pod::default()
    })
}

/// The environment, volumes and mounts of worker `ordinal`.
fn parts(job: &JobMeta, d: &Deployment, ordinal: u32) -> Result<Parts, BuildError> {
    let spec = d.job.spec();
    let mut parts = Parts {
        env: env::ordinal(d, ordinal)?,
        ..Parts::default()
    };
    volumes::config(job, &mut parts);
    volumes::state(job, spec, ordinal, &mut parts);
    volumes::control_token(spec, &mut parts);
    volumes::control_tls(job, spec, &mut parts);
    volumes::model(spec, &mut parts);
    parts.env.extend(super::logging::env(&spec.logging));
    volumes::kafka_auth(spec, &mut parts);
    volumes::state_keys(spec, &mut parts);
    volumes::store_credentials(spec, &mut parts);
    Ok(parts)
}

/// The pod template's labels and annotations, the job's selector labels, the ordinal, and the deployment's
/// fingerprint (which tells the operator what the pod runs).
fn metadata(job: &JobMeta, d: &Deployment, name: String, ordinal: u32) -> ObjectMeta {
    let tpl = d.job.pod_template();
    let mut labels = tpl.labels.clone();
    labels.extend(naming::selector_labels(&job.name));
    labels.insert(naming::ORDINAL_LABEL.into(), ordinal.to_string());
    let mut annotations = tpl.annotations.clone();
    annotations.insert(naming::HASH_ANNOTATION.into(), d.hash.clone());
    let mut meta = job.meta(name, labels);
    meta.annotations = Some(annotations);
    meta
}

/// The pod spec: the worker container, its volumes, a stable DNS name in the job's Service, and the pod
/// template merged over them.
fn pod_spec(job: &JobMeta, d: &Deployment, name: String, parts: Parts) -> PodSpec {
    let spec = d.job.spec();
    let built = PodSpec {
        restart_policy: Some("OnFailure".into()),
        hostname: Some(name),
        subdomain: Some(naming::service_name(&job.name)),
        containers: vec![container::container(spec, parts.env, parts.mounts)],
        volumes: Some(parts.volumes),
        automount_service_account_token: Some(false),
        termination_grace_period_seconds: Some(TERMINATION_GRACE_SECONDS),
        ..PodSpec::default()
    };
    template::merge(built, &d.job.pod_template().spec)
}
