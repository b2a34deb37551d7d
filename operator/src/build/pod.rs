//! One worker Pod per ordinal. The pod's environment carries everything ordinal-specific (identity,
//! partitions, ids to fence, savepoint to restore) so the ConfigMap stays shared. `restartPolicy: OnFailure`:
//! the kubelet restarts a crashed worker in place (keeping its local state), while a worker that exits 0
//! after stop-with-savepoint stays stopped — the operator decides what runs next.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, ObjectFieldSelector, PersistentVolumeClaimVolumeSource, Pod,
    PodSecurityContext, PodSpec, Probe, SeccompProfile, SecretKeySelector, SecretVolumeSource,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_crds::assignment::assign_partitions;
use sluice_crds::control::{CONTROL_PORT, METRICS_PORT};
use sluice_crds::{StreamJobSpec, VolumeKind};

use super::config_map::{JOB_KEY, MODEL_DIR};
use super::{BuildError, JobMeta};
use crate::naming;
use crate::reconcile::Deployment;
use crate::validate::ValidatedJob;
use sluice_crds::worker_env;

// Mount points never nest inside another volume (a read-only ConfigMap mount cannot host mount points, and
// the test bed's node agent materialises each volume as its own directory).
/// Where the job ConfigMap is mounted (`/etc/sluice/job.yaml`).
pub const CONFIG_DIR: &str = "/etc/sluice";
/// Where the control token Secret is mounted.
pub const TOKEN_DIR: &str = "/var/run/secrets/sluice/control";
/// Where Kafka TLS files are mounted.
pub const KAFKA_TLS_DIR: &str = "/etc/sluice-kafka/tls";
/// Where Kafka SASL credentials are mounted.
pub const KAFKA_SASL_DIR: &str = "/etc/sluice-kafka/sasl";

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    }
}

fn secret_volume(name: &str, secret: &str) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            default_mode: Some(0o440),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// Transactional ids of the `previous` assignment whose partitions overlap `ordinal`'s new partitions: the
/// new worker fences them before its first transaction, so no zombie of the old layout can commit.
pub fn fence_ids(job: &ValidatedJob, previous: NonZeroU32, ordinal: u32) -> Vec<String> {
    let prefix = &job.spec().job.transactional_id_prefix;
    let Some(mine) = job.partitions_of(ordinal) else {
        return Vec::new();
    };
    let old_layout = assign_partitions(job.partitions().get(), previous.get());
    (0u32..)
        .zip(old_layout)
        .filter(|(_, old)| old.iter().any(|p| mine.contains(p)))
        .map(|(j, _)| format!("{prefix}-{}", naming::worker_identity(previous.get(), j)))
        .collect()
}

fn join(v: &[impl ToString]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// What a pod is assembled from: its container's environment and mounts, and the pod's volumes.
#[derive(Default)]
struct Parts {
    env: Vec<EnvVar>,
    volumes: Vec<Volume>,
    mounts: Vec<VolumeMount>,
}

impl Parts {
    fn volume(&mut self, volume: Volume, path: &str, read_only: bool) {
        self.mounts.push(mount(&volume.name, path, read_only));
        self.volumes.push(volume);
    }
}

/// Renders the pod of worker `ordinal`.
pub fn pod(job: &JobMeta, d: &Deployment, ordinal: u32) -> Result<Pod, BuildError> {
    let spec = d.job.spec();
    let name = naming::worker_pod_name(&job.name, ordinal);
    let mut parts = Parts {
        env: ordinal_env(d, ordinal)?,
        ..Parts::default()
    };
    parts.volume(config_volume(job), CONFIG_DIR, true);
    parts.volume(state_volume(job, d, ordinal), &spec.job.state.dir, false);
    if let Some(api) = &spec.control_api {
        let volume = secret_volume("control-token", &api.token_secret.name);
        parts.volume(volume, TOKEN_DIR, true);
        let file = format!("{TOKEN_DIR}/{}", api.token_secret.key);
        parts.env.push(env(worker_env::CONTROL_TOKEN_FILE, file));
    }
    if let Some(model) = &spec.model {
        parts.volume(
            config_map_volume("model", &model.config_map.name),
            MODEL_DIR,
            true,
        );
        // Also in the job config file; the env var is what a runtime that relocates mounts (the test node
        // agent) can rewrite, and it keeps the path next to the other per-pod settings.
        let file = format!("{MODEL_DIR}/{}", model.config_map.key);
        parts.env.push(env(worker_env::MODEL_PATH, file));
    }
    parts.env.extend(super::logging::env(&spec.logging));
    kafka_auth(spec, &mut parts);
    parts.env.extend(store_credentials(spec));

    let tpl = &spec.pod_template;
    let mut labels: BTreeMap<String, String> = tpl.labels.clone();
    labels.extend(naming::selector_labels(&job.name));
    labels.insert(naming::ORDINAL_LABEL.into(), ordinal.to_string());
    let mut annotations = tpl.annotations.clone();
    annotations.insert(naming::HASH_ANNOTATION.into(), d.hash.clone());
    let mut meta = job.meta(name.clone(), labels);
    meta.annotations = Some(annotations);

    Ok(Pod {
        metadata: meta,
        spec: Some(PodSpec {
            restart_policy: Some("OnFailure".into()),
            hostname: Some(name),
            subdomain: Some(naming::service_name(&job.name)),
            containers: vec![container(spec, parts.env, parts.mounts)],
            volumes: Some(parts.volumes),
            node_selector: (!tpl.node_selector.is_empty()).then(|| tpl.node_selector.clone()),
            tolerations: (!tpl.tolerations.is_empty()).then(|| tpl.tolerations.clone()),
            security_context: Some(pod_security(tpl.security_context.as_ref())),
            service_account_name: tpl.service_account_name.clone(),
            priority_class_name: tpl.priority_class_name.clone(),
            automount_service_account_token: Some(false),
            termination_grace_period_seconds: Some(60),
            ..PodSpec::default()
        }),
        ..Pod::default()
    })
}

/// What makes this worker this ordinal: identity, partitions, state directory, the previous layout's ids
/// to fence and the savepoint to restore.
fn ordinal_env(d: &Deployment, ordinal: u32) -> Result<Vec<EnvVar>, BuildError> {
    let job = &d.job;
    let owned = job
        .partitions_of(ordinal)
        .ok_or(BuildError::NoSuchOrdinal {
            ordinal,
            parallelism: job.parallelism(),
        })?;
    let identity = naming::worker_identity(job.parallelism().get(), ordinal);
    let mut envs = vec![
        env(worker_env::WORKER_IDENTITY, identity),
        env(worker_env::WORKER_PARTITIONS, join(owned)),
        env(worker_env::STATE_DIR, job.spec().job.state.dir.clone()),
        field_env(worker_env::POD_NAME, "metadata.name"),
        field_env(worker_env::POD_IP, "status.podIP"),
    ];
    if let Some(previous) = d.previous_parallelism {
        let ids = fence_ids(job, previous, ordinal);
        envs.push(env(worker_env::FENCE_TRANSACTIONAL_IDS, ids.join(",")));
    }
    if let Some(from) = &d.restore_from {
        envs.push(env(worker_env::RESTORE_FROM, from.clone()));
    }
    Ok(envs)
}

fn config_map_volume(name: &str, config_map: &str) -> Volume {
    Volume {
        name: name.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map.into(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn config_volume(job: &JobMeta) -> Volume {
    config_map_volume("config", &naming::config_map_name(&job.name))
}

/// The worker's local state: an emptyDir (restored from the checkpoint store after a move) or its own PVC.
fn state_volume(job: &JobMeta, d: &Deployment, ordinal: u32) -> Volume {
    let storage = &d.job.spec().storage;
    match storage.volume {
        VolumeKind::EmptyDir => Volume {
            name: "state".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: storage.size.clone().map(Quantity),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        },
        VolumeKind::PersistentVolumeClaim => Volume {
            name: "state".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: naming::pvc_name(&job.name, ordinal),
                ..PersistentVolumeClaimVolumeSource::default()
            }),
            ..Volume::default()
        },
    }
}

/// Kafka TLS files and SASL credentials, mounted from their Secrets (the worker reads files, so the
/// values are never in the pod's environment).
fn kafka_auth(spec: &StreamJobSpec, parts: &mut Parts) {
    let Some(auth) = &spec.kafka_auth else {
        return;
    };
    if let Some(tls) = &auth.tls_secret {
        parts.volume(secret_volume("kafka-tls", &tls.name), KAFKA_TLS_DIR, true);
    }
    if let Some(sasl) = &auth.sasl_secret {
        parts.volume(
            secret_volume("kafka-sasl", &sasl.name),
            KAFKA_SASL_DIR,
            true,
        );
        let username = format!("{KAFKA_SASL_DIR}/username");
        let password = format!("{KAFKA_SASL_DIR}/password");
        parts
            .env
            .push(env(worker_env::KAFKA_SASL_USERNAME_FILE, username));
        parts
            .env
            .push(env(worker_env::KAFKA_SASL_PASSWORD_FILE, password));
    }
}

/// The object store credentials as explicit secretKeyRefs rather than envFrom: the keys the worker needs
/// are named, and a missing key fails the pod start visibly instead of leaving the SDK without credentials.
fn store_credentials(spec: &StreamJobSpec) -> Vec<EnvVar> {
    let Some(creds) = &spec.storage.credentials_secret else {
        return Vec::new();
    };
    [
        worker_env::AWS_ACCESS_KEY_ID,
        worker_env::AWS_SECRET_ACCESS_KEY,
    ]
    .into_iter()
    .map(|key| EnvVar {
        name: key.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: creds.name.clone(),
                key: key.into(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    })
    .collect()
}

fn probe(path: &str, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(i32::from(CONTROL_PORT)),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn port(name: &str, p: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: i32::from(p),
        ..ContainerPort::default()
    }
}

/// The worker container: `sluice-worker <job config>`, its ports and probes, a read-only root filesystem
/// and no capabilities.
fn container(spec: &StreamJobSpec, env: Vec<EnvVar>, mounts: Vec<VolumeMount>) -> Container {
    Container {
        name: "worker".into(),
        image: Some(spec.image.clone()),
        image_pull_policy: spec.image_pull_policy.map(|p| format!("{p:?}")),
        command: Some(vec![
            "sluice-worker".into(),
            format!("{CONFIG_DIR}/{JOB_KEY}"),
        ]),
        env: Some(env),
        ports: Some(vec![
            port("control", CONTROL_PORT),
            port("metrics", METRICS_PORT),
        ]),
        readiness_probe: Some(probe("/readyz", 5)),
        liveness_probe: Some(Probe {
            initial_delay_seconds: Some(10),
            ..probe("/healthz", 10)
        }),
        resources: spec.resources.clone(),
        volume_mounts: Some(mounts),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        // The worker writes its fatal error to the termination log; a crash without one still says why.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

/// The pod's security context: the user's `podTemplate.securityContext` with every field it leaves unset
/// taken from the defaults, which meet the `restricted` Pod Security level (non-root uid/gid 65532, the
/// runtime's default seccomp profile). Filling in rather than replacing keeps a user who sets only, say,
/// `fsGroup` inside `restricted`; a field the user sets explicitly is kept as given.
pub(super) fn pod_security(user: Option<&PodSecurityContext>) -> PodSecurityContext {
    let mut ctx = user.cloned().unwrap_or_default();
    ctx.run_as_non_root = ctx.run_as_non_root.or(Some(true));
    ctx.run_as_user = ctx.run_as_user.or(Some(65532));
    ctx.run_as_group = ctx.run_as_group.or(Some(65532));
    ctx.fs_group = ctx.fs_group.or(Some(65532));
    if ctx.seccomp_profile.is_none() {
        ctx.seccomp_profile = Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..SeccompProfile::default()
        });
    }
    ctx
}
