//! The smaller spec sections of a `StreamJob`: lifecycle and upgrade enums, storage, Secret/ConfigMap
//! references, restart, rollback, retention and deletion policies. Every enum is closed (the schema lists
//! its values) and every duration is a [`Millis`] string (`100ms`, `15m`, `45d`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Millis;

/// Lifecycle switch of the job (`spec.state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DesiredState {
    /// Workers run.
    #[default]
    Running,
    /// Workers are stopped (with a savepoint in `savepoint` mode) and their pods removed.
    Suspended,
}

/// How a spec change reaches running workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeMode {
    /// Start fresh: no state carried over.
    Stateless,
    /// Stop with a savepoint, restart the new spec from it (exactly-once across the upgrade). If the
    /// savepoint fails the job keeps running the old spec.
    #[default]
    Savepoint,
    /// Restart from the latest checkpoint without needing healthy workers.
    LastState,
}

/// Where a worker's local state (RocksDB) lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum VolumeKind {
    /// Pod-local scratch space: lost with the pod; recovery downloads the checkpoint again.
    #[default]
    EmptyDir,
    /// One PersistentVolumeClaim per worker ordinal (kept across pod restarts, deleted with the job).
    PersistentVolumeClaim,
}

/// `spec.storage`: the local state volume and the checkpoint store's credentials. The checkpoint store URI,
/// checkpoint interval and retention are worker settings in `spec.job.state`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Volume type for the local state directory (`spec.job.state.dir`).
    #[serde(default)]
    pub volume: VolumeKind,
    /// Volume size (a Kubernetes quantity such as `20Gi`): the PVC request, or the emptyDir size limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), extend("x-kubernetes-validations" = [{
        "rule": "isQuantity(self)",
        "message": "must be a Kubernetes quantity such as 20Gi"
    }]))]
    pub size: Option<String>,
    /// Storage class of the PVCs (absent: the cluster default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Secret with the checkpoint store credentials: keys `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`,
    /// injected into the workers as those environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<LocalObjectRef>,
    /// Secret with the state encryption keys (`spec.job.state.encryption`): one key per key id, 32 random
    /// bytes in base64 (`openssl rand -base64 32`). Mounted read-only into the workers; the operator only
    /// checks that the current key is there and keeps no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_keys_secret: Option<LocalObjectRef>,
}

/// A reference to a Secret or ConfigMap in the job's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// Object name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// One key of a Secret or ConfigMap in the job's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyRef {
    /// Object name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the object.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Kafka TLS and SASL material, mounted read-only. With `spec.job.kafka.security` the workers find the files
/// themselves; without it, point librdkafka properties in `spec.job.kafka.properties` at them
/// (`ssl.ca.location: /etc/sluice-kafka/tls/ca.crt`, …).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaAuth {
    /// Secret with TLS files, mounted at `/etc/sluice-kafka/tls`: `ca.crt` (the broker's CA; absent: the
    /// system trust store) and, for mutual TLS, `tls.crt` and `tls.key` (a `kubernetes.io/tls` Secret with
    /// `ca.crt`, as cert-manager writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret: Option<LocalObjectRef>,
    /// Secret with SASL credentials: keys `username` and `password`, mounted at `/etc/sluice-kafka/sasl`
    /// and announced to the worker by `SLUICE_KAFKA_SASL_USERNAME_FILE` / `SLUICE_KAFKA_SASL_PASSWORD_FILE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_secret: Option<LocalObjectRef>,
}

/// The scoring model YAML from a ConfigMap key, mounted at `/etc/sluice-model/<key>`; the operator sets
/// `job.modelPath` to that file in the job ConfigMap.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelRef {
    /// ConfigMap and key holding the model YAML.
    pub config_map: KeyRef,
}

/// The worker control API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlApiSpec {
    /// Secret key holding the bearer token. Mounted into the workers (`SLUICE_CONTROL_TOKEN_FILE`) and read
    /// by the operator for its calls.
    pub token_secret: KeyRef,
    /// People's access with OIDC tokens: JWTs of this issuer for this audience, whose roles claim grants
    /// read (status) or operate (checkpoints, savepoints, stop). Handed to the workers as
    /// `SLUICE_CONTROL_OIDC`; the issuer's keys are fetched by the workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<sluice_api::control_oidc::OidcSettings>,
}

/// Crash handling (`spec.restartPolicy`). Crashed containers are restarted in place by the kubelet
/// (`restartPolicy: OnFailure`); pods that vanish or fail are recreated by the operator after the backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestartPolicySpec {
    /// First delay before recreating a failed or missing worker pod; doubles per restart in the window.
    #[serde(default = "defaults::backoff_initial")]
    pub backoff_initial: Millis,
    /// Upper bound of that delay.
    #[serde(default = "defaults::backoff_max")]
    pub backoff_max: Millis,
    /// Restarts (container restarts plus pod recreations) tolerated within `window`; one more marks the job
    /// FAILED with the reason, stops recreating pods and removes them. Bump `restartNonce` to retry.
    #[serde(default = "defaults::max_restarts")]
    #[schemars(range(min = 0, max = 1000))]
    pub max_restarts: u32,
    /// Sliding window for `maxRestarts`.
    #[serde(default = "defaults::restart_window")]
    pub window: Millis,
    /// Leave FAILED by itself after a delay that doubles with each consecutive automatic restart (the
    /// Flink Kubernetes Operator's `job.restart.failed`). Absent: FAILED stays until `restartNonce` or
    /// the deployed spec changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_failed: Option<RestartFailedSpec>,
}

/// `spec.restartPolicy.restartFailed`: when a FAILED job is redeployed from its latest checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestartFailedSpec {
    /// Delay after the first failure; doubled for each automatic restart that did not reach STABLE.
    #[serde(default = "defaults::failed_initial_delay")]
    pub initial_delay: Millis,
    /// Upper bound of that delay.
    #[serde(default = "defaults::failed_max_delay")]
    pub max_delay: Millis,
}

impl Default for RestartPolicySpec {
    fn default() -> Self {
        RestartPolicySpec {
            backoff_initial: defaults::backoff_initial(),
            backoff_max: defaults::backoff_max(),
            max_restarts: defaults::max_restarts(),
            window: defaults::restart_window(),
            restart_failed: None,
        }
    }
}

/// Automatic rollback (`spec.rollback`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackSpec {
    /// Redeploy `status.lastStableSpec` from the upgrade's savepoint when the new spec is not Ready in time.
    #[serde(default = "defaults::rollback_enabled")]
    pub enabled: bool,
    /// How long a deployment may take to become Ready (all workers ready and running).
    #[serde(default = "defaults::readiness_timeout")]
    pub readiness_timeout: Millis,
    /// How long a deployment must stay Ready before it becomes STABLE (and `lastStableSpec`).
    #[serde(default = "defaults::stable_after")]
    pub stable_after: Millis,
}

impl Default for RollbackSpec {
    fn default() -> Self {
        RollbackSpec {
            enabled: defaults::rollback_enabled(),
            readiness_timeout: defaults::readiness_timeout(),
            stable_after: defaults::stable_after(),
        }
    }
}

/// The workers' log output (`spec.logging`), passed to each worker as `RUST_LOG` and `SLUICE_LOG_FORMAT`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoggingSpec {
    /// Filter directives as `RUST_LOG` takes them: a level (`info`, `debug`) or levels per module
    /// (`info,sluice_worker=debug,rdkafka=warn`). Absent: `info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[A-Za-z0-9_:=,.-]+$')",
        "message": "takes RUST_LOG directives such as info or info,sluice_worker=debug"
    }]))]
    pub level: Option<String>,
    /// `text` (default, for people) or `json` (one object per line, for log shippers).
    #[serde(default)]
    pub format: LogFormat,
}

/// Format of the workers' log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Savepoints the operator takes on its own, and how long any savepoint may take (`spec.savepoints`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, kube::KubeSchema)]
#[x_kube(validation = kube::core::Rule::new(crate::stream_job_schema::savepoint_timeout_rule())
    .message("savepoints.timeout must be at least 10s: a savepoint uploads every worker's state")
    .field_path(".timeout"))]
#[serde(rename_all = "camelCase")]
pub struct SavepointsSpec {
    /// A savepoint every `interval` while the job runs, for backup and disaster recovery: recorded in
    /// `status.savepoints` with trigger `periodic` and subject to `savepointRetention`. Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periodic: Option<PeriodicSavepoints>,
    /// How long a savepoint (upgrade, suspend, manual, periodic) may take before it counts as failed.
    #[serde(default = "defaults::savepoint_timeout")]
    pub timeout: Millis,
}

impl Default for SavepointsSpec {
    fn default() -> Self {
        SavepointsSpec {
            periodic: None,
            timeout: defaults::savepoint_timeout(),
        }
    }
}

/// `spec.savepoints.periodic`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, kube::KubeSchema)]
#[x_kube(validation = kube::core::Rule::new(crate::stream_job_schema::periodic_interval_rule())
    .message("savepoints.periodic.interval must be at least 1m: more often, use checkpoints")
    .field_path(".interval"))]
#[serde(rename_all = "camelCase")]
pub struct PeriodicSavepoints {
    /// Time between two savepoints, counted from the newest savepoint of any kind (or from when the
    /// deployment became ready, if later).
    pub interval: Millis,
}

/// Savepoint history retention (`spec.savepointRetention`). The newest savepoint is always kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointRetention {
    /// Savepoints kept in the history; older ones are deleted from the store.
    #[serde(default = "defaults::max_savepoints")]
    #[schemars(range(min = 1, max = 100))]
    pub max_count: u32,
    /// Savepoints older than this are deleted from the store.
    #[serde(default = "defaults::max_savepoint_age")]
    pub max_age: Millis,
}

impl Default for SavepointRetention {
    fn default() -> Self {
        SavepointRetention {
            max_count: defaults::max_savepoints(),
            max_age: defaults::max_savepoint_age(),
        }
    }
}

/// What deleting the StreamJob does before its pods go (`spec.deletion`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletionPolicy {
    /// Take a final stop-with-savepoint (kept in the store, not subject to retention) before removing the
    /// workers. A failed savepoint does not block the deletion; it is reported as an Event.
    #[serde(default)]
    pub final_savepoint: bool,
}

/// The workers' PodDisruptionBudget (`spec.disruptionBudget`). A node drain or another voluntary eviction
/// takes at most `maxUnavailable` worker pods at a time; the operator recreates an evicted worker without
/// backoff and does not count it against `restartPolicy` (an eviction is not a failure).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisruptionBudgetSpec {
    /// Create the PodDisruptionBudget (owned by the StreamJob).
    #[serde(default = "defaults::budget_enabled")]
    pub enabled: bool,
    /// Worker pods a voluntary disruption may take at once. 0 blocks drains of nodes that run workers until
    /// the job is suspended.
    #[serde(default = "defaults::max_unavailable")]
    pub max_unavailable: u32,
}

impl Default for DisruptionBudgetSpec {
    fn default() -> Self {
        DisruptionBudgetSpec {
            enabled: defaults::budget_enabled(),
            max_unavailable: defaults::max_unavailable(),
        }
    }
}

mod defaults {
    use crate::duration::Millis;

    pub fn budget_enabled() -> bool {
        true
    }
    pub fn max_unavailable() -> u32 {
        1
    }

    pub fn backoff_initial() -> Millis {
        Millis::from_secs(10)
    }
    pub fn backoff_max() -> Millis {
        Millis::from_secs(300)
    }
    pub fn max_restarts() -> u32 {
        5
    }
    pub fn restart_window() -> Millis {
        Millis::from_secs(600)
    }
    pub fn failed_initial_delay() -> Millis {
        Millis::from_secs(60)
    }
    pub fn failed_max_delay() -> Millis {
        Millis::from_secs(3_600)
    }
    pub fn rollback_enabled() -> bool {
        true
    }
    pub fn readiness_timeout() -> Millis {
        Millis::from_secs(300)
    }
    pub fn stable_after() -> Millis {
        Millis::from_secs(60)
    }
    pub fn max_savepoints() -> u32 {
        5
    }
    pub fn savepoint_timeout() -> Millis {
        Millis::from_secs(900)
    }
    pub fn max_savepoint_age() -> Millis {
        Millis(7 * 86_400_000)
    }
}
