//! The worker pod's volumes and where they are mounted: the job ConfigMap, the local state, and the Secrets
//! and ConfigMaps the spec refers to. Mount points never nest inside another volume (a read-only ConfigMap
//! mount cannot host mount points, and the test bed's node agent materialises each volume as its own
//! directory).

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, EmptyDirVolumeSource, PersistentVolumeClaimVolumeSource,
    SecretVolumeSource, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use sluice_crds::{StreamJobSpec, VolumeKind, worker_env};

use super::Parts;
use super::env::env;
use crate::build::JobMeta;
use crate::build::config_map::MODEL_DIR;
use crate::naming;

/// Where the job ConfigMap is mounted (`/etc/sluice/job.yaml`).
pub const CONFIG_DIR: &str = "/etc/sluice";
/// Where the control token Secret is mounted.
pub const TOKEN_DIR: &str = "/var/run/secrets/sluice/control";
/// Where Kafka TLS files are mounted.
pub const KAFKA_TLS_DIR: &str = "/etc/sluice-kafka/tls";
/// Where Kafka SASL credentials are mounted.
pub const KAFKA_SASL_DIR: &str = "/etc/sluice-kafka/sasl";
/// Where the state encryption keys Secret is mounted.
pub const STATE_KEYS_DIR: &str = "/var/run/secrets/sluice/state-keys";
/// Where the job's control certificate Secret is mounted.
pub const CONTROL_TLS_DIR: &str = "/var/run/secrets/sluice/control-tls";
/// Where the object store credentials Secret is mounted (one file per key).
pub const S3_CREDENTIALS_DIR: &str = "/var/run/secrets/sluice/s3";
/// The names of the volumes below (a pod template may not use them for its own).
pub const OPERATOR_VOLUMES: [&str; 9] = [
    "config",
    "state",
    "control-token",
    "control-tls",
    "model",
    "kafka-tls",
    "kafka-sasl",
    "state-keys",
    "s3-credentials",
];

pub(super) fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
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

/// The job ConfigMap at [`CONFIG_DIR`].
pub(super) fn config(job: &JobMeta, parts: &mut Parts) {
    let volume = config_map_volume("config", &naming::config_map_name(&job.name));
    parts.volume(volume, CONFIG_DIR, true);
}

/// The worker's local state at `spec.job.state.dir`: an emptyDir (restored from the checkpoint store after a
/// move) or its own PVC.
pub(super) fn state(job: &JobMeta, spec: &StreamJobSpec, ordinal: u32, parts: &mut Parts) {
    let storage = &spec.storage;
    let volume = match storage.volume {
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
    };
    parts.volume(volume, &spec.job.state.dir, false);
}

/// The control API's token Secret, and the file the worker reads it from.
pub(super) fn control_token(spec: &StreamJobSpec, parts: &mut Parts) {
    let Some(api) = &spec.control_api else {
        return;
    };
    let volume = secret_volume("control-token", &api.token_secret.name);
    parts.volume(volume, TOKEN_DIR, true);
    let file = format!("{TOKEN_DIR}/{}", api.token_secret.key);
    parts.env.push(env(worker_env::CONTROL_TOKEN_FILE, file));
    if let Some(oidc) = &api.oidc {
        // Plain settings (issuer, audience, roles): nothing secret, so an environment variable will do.
        let json = serde_json::to_string(oidc).unwrap_or_default();
        parts.env.push(env(worker_env::CONTROL_OIDC, json));
    }
}

/// The job's control certificate (issued by the operator, `spec.controlTls`), which the worker serves the
/// control API with and follows as the kubelet updates the files.
pub(super) fn control_tls(job: &JobMeta, spec: &StreamJobSpec, parts: &mut Parts) {
    if !spec.control_tls.enabled() {
        return;
    }
    let secret = sluice_crds::control_tls::secret_name(&job.name);
    parts.volume(secret_volume("control-tls", &secret), CONTROL_TLS_DIR, true);
    let file = |key: &str| format!("{CONTROL_TLS_DIR}/{key}");
    parts
        .env
        .push(env(worker_env::CONTROL_TLS_CERT_FILE, file("tls.crt")));
    parts
        .env
        .push(env(worker_env::CONTROL_TLS_KEY_FILE, file("tls.key")));
}

/// The object store credentials Secret as files (`SLUICE_S3_CREDENTIALS_DIR`), never as environment
/// variables: the checkpoint store reads them again about every minute and the audit table's writer before
/// each append, so rotated keys reach running workers.
pub(super) fn store_credentials(spec: &StreamJobSpec, parts: &mut Parts) {
    let Some(creds) = &spec.storage.credentials_secret else {
        return;
    };
    parts.volume(
        secret_volume("s3-credentials", &creds.name),
        S3_CREDENTIALS_DIR,
        true,
    );
    parts.env.push(env(
        worker_env::S3_CREDENTIALS_DIR,
        S3_CREDENTIALS_DIR.to_string(),
    ));
}

/// The state encryption keys Secret, and the directory the worker reads them from.
pub(super) fn state_keys(spec: &StreamJobSpec, parts: &mut Parts) {
    let Some(keys) = &spec.storage.encryption_keys_secret else {
        return;
    };
    parts.volume(
        secret_volume("state-keys", &keys.name),
        STATE_KEYS_DIR,
        true,
    );
    parts
        .env
        .push(env(worker_env::STATE_KEYS_DIR, STATE_KEYS_DIR.to_string()));
}

/// The model ConfigMap, and the model file's path.
pub(super) fn model(spec: &StreamJobSpec, parts: &mut Parts) {
    let Some(model) = &spec.model else {
        return;
    };
    let volume = config_map_volume("model", &model.config_map.name);
    parts.volume(volume, MODEL_DIR, true);
    // Also in the job config file; the env var is what a runtime that relocates mounts (the test node
    // agent) can rewrite, and it keeps the path next to the other per-pod settings.
    let file = format!("{MODEL_DIR}/{}", model.config_map.key);
    parts.env.push(env(worker_env::MODEL_PATH, file));
}

/// Kafka TLS files and SASL credentials, mounted from their Secrets (the worker reads files, so the
/// values are never in the pod's environment).
pub(super) fn kafka_auth(spec: &StreamJobSpec, parts: &mut Parts) {
    let Some(auth) = &spec.kafka_auth else {
        return;
    };
    if let Some(tls) = &auth.tls_secret {
        parts.volume(secret_volume("kafka-tls", &tls.name), KAFKA_TLS_DIR, true);
        // Where `spec.job.kafka.security` finds ca.crt, tls.crt and tls.key.
        parts
            .env
            .push(env(worker_env::KAFKA_TLS_DIR, KAFKA_TLS_DIR.to_string()));
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
