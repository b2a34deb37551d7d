//! The `StreamJob` custom resource (`sluice.dev/v1alpha1`, short name `sj`): the spec a user writes.
//!
//! Naming: `spec.job` is exactly the worker's [`JobConfig`] (so `spec.job.state` is the *worker's* state
//! settings: local directory, checkpoint store URI, checkpoint interval, retention). The lifecycle switch the
//! operator issue calls `state: running | suspended` is `spec.state`, and where local state lives (emptyDir or
//! a PersistentVolumeClaim, plus the checkpoint store's credentials Secret) is `spec.storage`.
//!
//! Admission rules live in the schema as CEL (`x-kubernetes-validations`, see [`crate::stream_job_schema`]);
//! rules that need the cluster (Secrets exist, partitions really exist) become status conditions.

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::duration::Millis;
use crate::job_config::JobConfig;
use crate::pod_template::PodTemplate;
pub use crate::stream_job_status::*;
pub use crate::stream_job_types::*;

/// Desired state of one fraud-scoring job.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "sluice.dev",
    version = "v1alpha1",
    kind = "StreamJob",
    namespaced,
    shortname = "sj",
    category = "sluice",
    status = "StreamJobStatus",
    doc = "A Sluice exactly-once stream processing job: worker pods, their partition assignment, savepoint upgrades and rollback.",
    scale(
        spec_replicas_path = ".spec.parallelism",
        status_replicas_path = ".status.parallelism",
        label_selector_path = ".status.selector"
    ),
    printcolumn(
        name = "Parallelism",
        type_ = "integer",
        json_path = ".spec.parallelism",
        description = "Desired number of workers"
    ),
    printcolumn(
        name = "Lifecycle",
        type_ = "string",
        json_path = ".status.lifecycleState",
        description = "Where the job is in its lifecycle"
    ),
    // Raw JSON for these two: clippy's duplicated_attributes lint flags a repeated `type_ = ...` pair.
    printcolumn = r#"{"name":"Lag","type":"integer","jsonPath":".status.job.lag","description":"Records behind the log end, summed over partitions"}"#,
    printcolumn = r#"{"name":"Last Savepoint","type":"string","jsonPath":".status.job.lastSavepoint.id","description":"Id of the newest completed savepoint"}"#,
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("self.parallelism <= self.partitions")
    .message("parallelism must not exceed partitions: extra workers would own no partition")
    .field_path(".parallelism"))]
#[x_kube(validation = Rule::new("!has(self.savepointRedeployNonce) || has(self.initialSavepointPath)")
    .message("savepointRedeployNonce redeploys from initialSavepointPath: set initialSavepointPath to the savepoint directory")
    .field_path(".initialSavepointPath"))]
#[x_kube(validation = Rule::new("(has(self.job.state) && has(self.job.state.encryption)) == (has(self.storage) && has(self.storage.encryptionKeysSecret))")
    .message("job.state.encryption and storage.encryptionKeysSecret go together: encrypted state needs the keys Secret mounted, and a keys Secret needs job.state.encryption.currentKey")
    .field_path(".storage.encryptionKeysSecret"))]
#[x_kube(validation = Rule::new("!has(self.job.kafka) || !has(self.job.kafka.security) || !self.job.kafka.security.protocol.startsWith('SASL_') || (has(self.kafkaAuth) && has(self.kafkaAuth.saslSecret))")
    .message("job.kafka.security.protocol SASL_SSL or SASL_PLAINTEXT needs spec.kafkaAuth.saslSecret: the Secret holding the keys username and password")
    .field_path(".kafkaAuth.saslSecret"))]
#[serde(rename_all = "camelCase")]
pub struct StreamJobSpec {
    /// Container image of the worker (runs `sluice-worker /etc/sluice/job.yaml`).
    #[schemars(length(min = 1, max = 512))]
    pub image: String,
    /// Image pull policy of the worker container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,
    /// Number of worker pods. Each owns a fixed, contiguous subset of the input partitions. `kubectl scale`
    /// changes it; a change is rolled out as an upgrade (stop with savepoint, restore with the new assignment).
    #[schemars(range(min = 1, max = 4096))]
    pub parallelism: i32,
    /// Partition count of the (co-partitioned) input topics. The operator assigns partitions from it; a worker
    /// that sees a different count reports it and the job gets a Degraded condition naming this field.
    #[schemars(range(min = 1, max = 100000))]
    pub partitions: i32,
    /// The worker's job configuration (Kafka, topics, transactions, watermarks, worker state settings),
    /// written verbatim into the job ConfigMap. `transactionalIdPrefix` is immutable.
    #[schemars(schema_with = "crate::stream_job_schema::job_config_schema")]
    pub job: JobConfig,
    /// Lifecycle switch: `suspended` stops the workers (with a savepoint in `savepoint` mode) and removes the
    /// pods; `running` (re)starts them, from that savepoint.
    #[serde(default)]
    pub state: DesiredState,
    /// How a spec change reaches running workers.
    #[serde(default)]
    pub upgrade_mode: UpgradeMode,
    /// Change to any new value to take a savepoint now (kept in the savepoint history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_trigger_nonce: Option<i64>,
    /// Change to any new value to ask every worker for a checkpoint now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_trigger_nonce: Option<i64>,
    /// Change to any new value to restart the job through the upgrade path (per `upgradeMode`); also clears a
    /// FAILED state after the restart limit was hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_nonce: Option<i64>,
    /// Change to any new value to redeploy the job from `initialSavepointPath` now, without a savepoint of
    /// the current state: the workers restore that savepoint's state and replay the committed input after
    /// it with output suppressed (nothing is emitted twice, nothing skipped), so the current image and model
    /// recompute the state since the savepoint. Checkpoints taken before the redeploy are never restored
    /// again. Recorded in `status.restoredFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_redeploy_nonce: Option<i64>,
    /// Savepoint directory the first deployment restores from (`s3://…/savepoints/<id>`), e.g. one taken by
    /// another job; and the one `savepointRedeployNonce` redeploys from. Otherwise only used when the job has
    /// no savepoint of its own yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub initial_savepoint_path: Option<String>,
    /// Worker container resources (requests and limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Where local state lives and how the checkpoint store is reached.
    #[serde(default)]
    pub storage: StorageSpec,
    /// Kafka TLS and SASL material, mounted from Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_auth: Option<KafkaAuth>,
    /// The scoring model, from a ConfigMap. Absent: the built-in model. A change of the ConfigMap's content
    /// is rolled out like a spec change: at once when the ConfigMap has the label `sluice.dev/model` (any
    /// value; the operator watches only labelled ConfigMaps), else at the next periodic reconcile (within a
    /// minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRef>,
    /// The worker control API's bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_api: Option<ControlApiSpec>,
    /// TLS on the workers' control API, with certificates the operator issues (default) or off.
    #[serde(default)]
    pub control_tls: crate::ControlTlsSpec,
    /// Crash handling: backoff between pod recreations and the restart budget.
    #[serde(default)]
    pub restart_policy: RestartPolicySpec,
    /// Automatic rollback to the last stable spec.
    #[serde(default)]
    pub rollback: RollbackSpec,
    /// Savepoint history retention (count and age).
    #[serde(default)]
    pub savepoint_retention: SavepointRetention,
    /// What deleting the StreamJob does first.
    #[serde(default)]
    pub deletion: DeletionPolicy,
    /// The workers' PodDisruptionBudget.
    #[serde(default)]
    pub disruption_budget: DisruptionBudgetSpec,
    /// Periodic savepoints and the savepoint timeout.
    #[serde(default)]
    pub savepoints: SavepointsSpec,
    /// The workers' log level and format (a change restarts the workers through the upgrade mode).
    #[serde(default)]
    pub logging: LoggingSpec,
    /// The worker pods' template: labels, annotations and a Kubernetes PodSpec merged over the pod the
    /// operator builds (see `PodTemplate`).
    #[serde(default)]
    pub pod_template: PodTemplate,
}

/// Container image pull policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl StreamJobSpec {
    /// Readiness timeout for rollback decisions.
    pub fn readiness_timeout(&self) -> Millis {
        self.rollback.readiness_timeout
    }
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;

    use super::StreamJob;

    #[test]
    fn crd_has_the_api_names_users_type() {
        let crd = StreamJob::crd();
        assert_eq!(crd.spec.group, "sluice.dev");
        assert_eq!(crd.spec.names.kind, "StreamJob");
        assert_eq!(crd.spec.names.short_names, Some(vec!["sj".to_string()]));
        assert_eq!(crd.spec.versions[0].name, "v1alpha1");
    }

    #[test]
    fn the_example_deserializes_and_validates() {
        let text = include_str!("../../examples/fraud-streamjob.yaml");
        let job: StreamJob = serde_norway::from_str(text).unwrap();
        assert_eq!(job.spec.parallelism, 4);
        assert_eq!(job.spec.partitions, 12);
        assert_eq!(job.spec.upgrade_mode, super::UpgradeMode::Savepoint);
        assert_eq!(
            job.spec.storage.volume,
            super::VolumeKind::PersistentVolumeClaim
        );
        assert!(job.spec.deletion.final_savepoint);
        assert!(
            job.spec.job.validate().is_empty(),
            "{:?}",
            job.spec.job.validate()
        );
        assert!(job.spec.control_api.is_some() && job.spec.model.is_some());
    }

    #[test]
    fn a_minimal_spec_gets_the_documented_defaults() {
        let job: StreamJob = serde_norway::from_str(
            "apiVersion: sluice.dev/v1alpha1\nkind: StreamJob\nmetadata: {name: x}\nspec:\n  image: i\n  parallelism: 1\n  partitions: 2\n  job: {transactionalIdPrefix: x}\n",
        )
        .unwrap();
        assert_eq!(job.spec.state, super::DesiredState::Running);
        assert_eq!(job.spec.rollback.readiness_timeout.to_string(), "5m");
        assert_eq!(job.spec.restart_policy.max_restarts, 5);
        assert_eq!(job.spec.savepoint_retention.max_count, 5);
    }
}
