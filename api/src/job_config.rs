//! The worker's job configuration: what the operator writes into the job ConfigMap and what
//! `sluice-worker` / `sluice run` read. Shared so both sides agree on every field and default.
//!
//! Unknown fields are rejected (`deny_unknown_fields`) so a misspelt key is an error, not a silent default.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Millis;
use crate::store_uri::{StoreUri, StoreUriError};

/// Under a backlog a transaction may last this many commit intervals (see `JobConfig::commit_interval`).
pub const BACKLOG_COMMIT_STRETCH: u32 = 8;

/// Everything a worker needs to run the fraud job, apart from which partitions it owns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobConfig {
    /// Kafka connection. Required by `sluice-worker`; ignored by the embedded local mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<KafkaConfig>,
    /// Names of the input and output topics.
    #[serde(default)]
    pub topics: TopicsConfig,
    /// Prefix of every transactional.id of this job: `<prefix>-<worker id>`. Unique per job and stable across
    /// restarts; changing it orphans open transactions, so the CRD makes it immutable.
    pub transactional_id_prefix: String,
    /// Kafka `transaction.timeout.ms`. Must exceed 8 × commitInterval + maxRecoveryTime, or the broker aborts
    /// transactions during a slow recovery (the reference's silent-loss incident).
    #[serde(default = "defaults::transaction_timeout")]
    pub transaction_timeout: Millis,
    /// How often output and consumed offsets are committed in one Kafka transaction. This is the visibility
    /// latency for read_committed consumers. Under a backlog (input already waiting after a full
    /// transaction's worth of work) a transaction may run up to 8× this long, still bounded by
    /// commitMaxRecords: the waiting records gain nothing from early commits, and fewer commits drain the
    /// backlog faster.
    #[serde(default = "defaults::commit_interval")]
    pub commit_interval: Millis,
    /// Commit early once this many input records are in the open transaction (bounds transaction size).
    #[serde(default = "defaults::commit_max_records")]
    pub commit_max_records: u32,
    /// Worst-case time to restore a checkpoint and replay to the committed frontier; used to validate the
    /// transaction timeout.
    #[serde(default = "defaults::max_recovery_time")]
    pub max_recovery_time: Millis,
    /// Event-time settings.
    #[serde(default)]
    pub watermark: WatermarkConfig,
    /// Cards with no event for this long (in event time) are dropped from state.
    #[serde(default = "defaults::state_ttl")]
    pub state_ttl: Millis,
    /// Local state and checkpoints.
    #[serde(default)]
    pub state: StateConfig,
    /// Path of the scoring model YAML. Absent: the built-in model `fraud-v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_path: Option<String>,
    /// Iceberg audit table of every decision's feature vector. Absent: no audit table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<crate::audit::AuditSpec>,
}

/// Kafka connection settings.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`.
    pub bootstrap_servers: String,
    /// Encryption and authentication of every Kafka client: the protocol and SASL mechanism; the CA, client
    /// certificate and SASL credentials come from the Secrets of `spec.kafkaAuth`. Absent: whatever
    /// `properties` say (PLAINTEXT when they say nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<crate::kafka_security::KafkaSecurity>,
    /// Extra librdkafka properties (tuning). Never credentials: those come from files (`spec.kafkaAuth`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

/// Redacts secret-bearing properties: `Debug` output reaches logs and error messages.
impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("security", &self.security)
            .field(
                "properties",
                &crate::secrets::redacted_properties(&self.properties),
            )
            .finish()
    }
}

/// Topic names. All input topics must have the same partition count (co-partitioned by card_id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TopicsConfig {
    pub authorizations: String,
    pub device_telemetry: String,
    pub account_changes: String,
    pub decisions: String,
    pub alerts: String,
    pub dlq: String,
    pub late: String,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            authorizations: "authorizations".into(),
            device_telemetry: "device-telemetry".into(),
            account_changes: "account-changes".into(),
            decisions: "decisions".into(),
            alerts: "alerts".into(),
            dlq: "dlq".into(),
            late: "late".into(),
        }
    }
}

/// Event-time settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WatermarkConfig {
    /// Watermark = max event time seen in the partition minus this bound.
    pub out_of_orderness: Millis,
    /// Events older than watermark − allowedLateness go to the `late` topic instead of the features.
    pub allowed_lateness: Millis,
}

impl Default for WatermarkConfig {
    fn default() -> Self {
        WatermarkConfig {
            out_of_orderness: Millis::from_secs(5),
            allowed_lateness: Millis::from_secs(2),
        }
    }
}

/// Local state and checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct StateConfig {
    /// Directory for the per-partition RocksDB instances and local checkpoints.
    pub dir: String,
    /// How often a state checkpoint is taken (asynchronous; independent of commitInterval).
    pub checkpoint_interval: Millis,
    /// Completed checkpoints kept; older ones are garbage-collected.
    pub retained_checkpoints: u32,
    /// RocksDB block cache shared by all partitions of a worker, in MiB.
    pub block_cache_mib: u32,
    /// RocksDB write-buffer budget shared by all partitions of a worker, in MiB.
    pub write_buffer_mib: u32,
    /// Card states recently committed to RocksDB, kept in memory as a read cache in front of it: keys and
    /// values of all partitions of a worker, in MiB (hash-map overhead comes on top, roughly a quarter).
    /// Reads that hit it skip RocksDB's memtable and table lookups. 0 disables it.
    pub read_cache_mib: u32,
    /// Durable checkpoint/savepoint store: `s3://bucket/prefix` or `file:///absolute/dir`. Absent: checkpoints
    /// stay on local disk only (fine for local mode; a lost disk then means a replay from the progress log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_store: Option<String>,
    /// S3 connection settings used when checkpointStore is `s3://…`. Credentials come from the standard AWS
    /// environment variables or files (`AWS_ACCESS_KEY_ID`, `AWS_SHARED_CREDENTIALS_FILE`, …), never from here.
    pub s3: S3Options,
    /// Consecutive failed checkpoints tolerated before the worker exits non-zero (fail fast instead of running
    /// for hours without a restorable state).
    pub tolerable_failed_checkpoints: u32,
    /// Client-side encryption of every checkpoint and savepoint object (AES-256-GCM). The keys come from
    /// files (the Secret named by the StreamJob's `spec.storage.encryptionKeysSecret`, or the directory in
    /// `SLUICE_STATE_KEYS_DIR`), never from here. Absent: objects are written in plain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<StateEncryption>,
}

/// Which key seals new checkpoint objects; older keys stay in the key files to read older snapshots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateEncryption {
    /// The id (file name in the keys Secret) of the key that seals new objects. Rotate by adding a key to
    /// the Secret and naming it here; keep the old one until no retained snapshot needs it.
    pub current_key: String,
    /// Restore objects written before encryption was enabled (in plain). Off by default: a plain object in
    /// an encrypted job's store is refused, so nobody can slip unauthenticated state into it.
    #[serde(default)]
    pub allow_plaintext: bool,
}

/// S3 endpoint settings for the checkpoint store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.sseKmsKeyId) || (has(self.sse) && self.sse.startsWith('aws:kms'))",
    "message": "sseKmsKeyId names the KMS key of SSE-KMS: set sse to aws:kms (or aws:kms:dsse), or remove it",
    "fieldPath": ".sseKmsKeyId"
}]))]
pub struct S3Options {
    /// Custom endpoint URL (MinIO, Ceph, s3s-fs…). Absent: AWS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Region used for request signing.
    pub region: String,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most non-AWS servers.
    pub path_style: bool,
    /// Server-side encryption the S3 service applies to every object: `AES256` (SSE-S3), `aws:kms`
    /// (SSE-KMS) or `aws:kms:dsse`. Independent of `state.encryption`, which seals objects before they leave
    /// the worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["AES256", "aws:kms", "aws:kms:dsse"]))]
    pub sse: Option<String>,
    /// The KMS key (id, alias or ARN) for SSE-KMS; absent: the bucket's default KMS key.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub sse_kms_key_id: Option<String>,
    /// Parallel uploads/downloads per worker.
    pub max_concurrency: u32,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            endpoint: None,
            region: "us-east-1".into(),
            path_style: false,
            sse: None,
            sse_kms_key_id: None,
            max_concurrency: 8,
        }
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: "/var/lib/sluice/state".into(),
            checkpoint_interval: Millis::from_secs(30),
            retained_checkpoints: 3,
            block_cache_mib: 256,
            write_buffer_mib: 128,
            read_cache_mib: 256,
            checkpoint_store: None,
            s3: S3Options::default(),
            encryption: None,
            tolerable_failed_checkpoints: 3,
        }
    }
}

mod defaults {
    use crate::duration::Millis;

    pub fn transaction_timeout() -> Millis {
        Millis::from_secs(15 * 60)
    }
    /// Chosen by the benchmark (docs/benchmarks.md): at 12k records/s on the 2-core test machine, 25 ms gave
    /// p99 54 ms from append to read_committed visibility, 50 ms gave p99 75 ms; the goal is < 85 ms.
    pub fn commit_interval() -> Millis {
        Millis(25)
    }
    pub fn commit_max_records() -> u32 {
        10_000
    }
    pub fn max_recovery_time() -> Millis {
        Millis::from_secs(5 * 60)
    }
    pub fn state_ttl() -> Millis {
        Millis(45 * 86_400_000)
    }
}

/// A configuration problem: the field (as written in YAML) and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}; fix: {fix}")]
pub struct ConfigError {
    pub field: &'static str,
    pub problem: String,
    pub fix: String,
}

impl JobConfig {
    /// The checkpoint store (`state.checkpointStore`) parsed, when one is set. Validation reports a bad one;
    /// the worker, the CLI and the operator open or clean up only what this returns.
    pub fn checkpoint_store(&self) -> Option<Result<StoreUri, StoreUriError>> {
        self.state.checkpoint_store.as_deref().map(str::parse)
    }

    /// Secrets in `kafka.properties` would be stored in plain text in the StreamJob, its ConfigMap and
    /// `status.lastReconciledSpec`: each is an error naming the reference to use instead.
    fn secret_property_errors(&self) -> Vec<ConfigError> {
        let Some(kafka) = &self.kafka else {
            return Vec::new();
        };
        kafka
            .properties
            .keys()
            .filter(|key| crate::secrets::is_secret_kafka_property(key))
            .map(|key| {
                let lower = key.to_ascii_lowercase();
                let fix = if lower.starts_with("ssl.") {
                    "put the client certificate and an unencrypted key in a Secret named by spec.kafkaAuth.tlsSecret"
                } else if lower.starts_with("sasl.") && !lower.contains("oauthbearer") {
                    "put the SASL username and password in a Secret named by spec.kafkaAuth.saslSecret"
                } else {
                    "remove it: Sluice takes Kafka credentials only from Secrets (spec.kafkaAuth)"
                };
                ConfigError {
                    field: "kafka.properties",
                    problem: format!(
                        "{key:?} holds a secret, which would be stored in plain text in the StreamJob, its ConfigMap and status"
                    ),
                    fix: fix.into(),
                }
            })
            .collect()
    }

    /// `kafka.security` against itself and the free-form properties.
    fn kafka_security_errors(&self) -> Vec<ConfigError> {
        let Some((security, kafka)) = self
            .kafka
            .as_ref()
            .and_then(|k| k.security.as_ref().map(|s| (s, k)))
        else {
            return Vec::new();
        };
        security
            .problems(&kafka.properties)
            .into_iter()
            .map(|p| ConfigError {
                field: p.field,
                problem: p.problem,
                fix: p.fix,
            })
            .collect()
    }

    /// Checks rules the types alone cannot express. Returns every problem, not only the first.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errs = self.transaction_errors();
        errs.extend(self.checkpoint_errors());
        errs.extend(self.secret_property_errors());
        errs.extend(self.kafka_security_errors());
        errs.extend(self.s3_errors());
        errs.extend(self.encryption_errors());
        errs.extend(self.state_ttl_error());
        if let Some(audit) = &self.audit {
            errs.extend(audit.validate(self.state.checkpoint_store.is_some()));
        }
        errs
    }

    /// The Kafka transactions: the transactional.id prefix, a timeout the longest transaction plus a
    /// recovery fits in, and commit triggers that can fire.
    fn transaction_errors(&self) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        let prefix = &self.transactional_id_prefix;
        if prefix.is_empty()
            || prefix.len() > 200
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            errs.push(ConfigError {
                field: "transactionalIdPrefix",
                problem: format!("{prefix:?} is not 1-200 characters of [A-Za-z0-9._-]"),
                fix: "use a stable, job-unique name such as \"fraud-score-prod-v7\"".into(),
            });
        }
        let needed = self
            .commit_interval
            .0
            .saturating_mul(u64::from(BACKLOG_COMMIT_STRETCH))
            .saturating_add(self.max_recovery_time.0);
        if self.transaction_timeout.0 <= needed {
            errs.push(ConfigError {
                field: "transactionTimeout",
                problem: format!(
                    "{} must exceed {BACKLOG_COMMIT_STRETCH} × commitInterval ({}, the longest transaction under a backlog) + maxRecoveryTime ({}) = {}",
                    self.transaction_timeout,
                    self.commit_interval,
                    self.max_recovery_time,
                    Millis(needed)
                ),
                fix: "raise transactionTimeout (15m is a safe default) or lower maxRecoveryTime"
                    .into(),
            });
        }
        if self.commit_interval.0 == 0 {
            errs.push(ConfigError {
                field: "commitInterval",
                problem: "must be at least 1ms".into(),
                fix: "use e.g. \"100ms\"".into(),
            });
        }
        if self.commit_max_records == 0 {
            errs.push(ConfigError {
                field: "commitMaxRecords",
                problem: "must be at least 1".into(),
                fix: "use e.g. 10000".into(),
            });
        }
        errs
    }

    /// State checkpoints: how many are kept, and where they are stored durably.
    fn checkpoint_errors(&self) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        if self.state.retained_checkpoints == 0 {
            errs.push(ConfigError {
                field: "state.retainedCheckpoints",
                problem: "must keep at least one checkpoint".into(),
                fix: "use 3 (the default)".into(),
            });
        }
        if let Some(Err(e)) = self.checkpoint_store() {
            errs.push(ConfigError {
                field: "state.checkpointStore",
                problem: e.to_string(),
                fix:
                    "use e.g. \"s3://sluice-checkpoints/prod\" or \"file:///var/lib/sluice/store\""
                        .into(),
            });
        }
        errs
    }

    /// Encryption seals objects of the checkpoint store, under a key id that is also a file name.
    fn encryption_errors(&self) -> Vec<ConfigError> {
        let Some(enc) = &self.state.encryption else {
            return Vec::new();
        };
        let mut errs = Vec::new();
        if self.state.checkpoint_store.is_none() {
            errs.push(ConfigError {
                field: "state.encryption",
                problem: "encrypts the objects of the checkpoint store, and no state.checkpointStore is set".into(),
                fix: "set state.checkpointStore, or remove state.encryption".into(),
            });
        }
        let id = &enc.current_key;
        if !crate::secrets::is_valid_key_id(id) {
            errs.push(ConfigError {
                field: "state.encryption.currentKey",
                problem: format!("{id:?} is not a key id (the key's file name in the keys Secret)"),
                fix: "use 1–64 letters, digits, '.', '_' or '-', not starting with '.', e.g. \"2026-12\"".into(),
            });
        }
        errs
    }

    /// The S3 client's limits and server-side encryption.
    fn s3_errors(&self) -> Vec<ConfigError> {
        let s3 = &self.state.s3;
        let mut errs = Vec::new();
        if s3.max_concurrency == 0 {
            errs.push(ConfigError {
                field: "state.s3.maxConcurrency",
                problem: "must be at least 1".into(),
                fix: "use 8 (the default)".into(),
            });
        }
        let kms = s3.sse.as_deref().is_some_and(|s| s.starts_with("aws:kms"));
        if let Some(sse) = s3.sse.as_deref()
            && !["AES256", "aws:kms", "aws:kms:dsse"].contains(&sse)
        {
            errs.push(ConfigError {
                field: "state.s3.sse",
                problem: format!("{sse:?} is not a server-side encryption S3 knows"),
                fix: "use AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse".into(),
            });
        }
        if s3.sse_kms_key_id.is_some() && !kms {
            errs.push(ConfigError {
                field: "state.s3.sseKmsKeyId",
                problem: "names a KMS key, and state.s3.sse is not aws:kms".into(),
                fix: "set state.s3.sse: aws:kms, or remove sseKmsKeyId".into(),
            });
        }
        errs
    }

    /// The state TTL: at least a day, so the 30-day average feature has history to use.
    fn state_ttl_error(&self) -> Option<ConfigError> {
        (self.state_ttl.0 < 86_400_000).then(|| ConfigError {
            field: "stateTtl",
            problem: format!(
                "{} is shorter than the 30-day average feature needs to be useful",
                self.state_ttl
            ),
            fix: "use at least \"1d\"; the default is \"45d\"".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_in_kafka_properties_are_refused_with_the_reference_to_use() {
        let mut job: super::JobConfig =
            serde_norway::from_str("transactionalIdPrefix: t\n").unwrap();
        job.kafka = Some(super::KafkaConfig {
            bootstrap_servers: "b:9092".into(),
            security: None,
            properties: [
                ("sasl.password", "hunter2"),
                ("ssl.key.password", "x"),
                ("sasl.oauthbearer.client.secret", "y"),
                ("sasl.mechanism", "PLAIN"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        });
        let errs: Vec<String> = job
            .validate()
            .iter()
            .filter(|e| e.field == "kafka.properties")
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs.iter().all(|e| !e.contains("hunter2")), "{errs:?}");
        let find = |key: &str| errs.iter().find(|e| e.contains(key)).unwrap().clone();
        assert!(find("\"sasl.password\"").contains("spec.kafkaAuth.saslSecret"));
        assert!(find("\"ssl.key.password\"").contains("spec.kafkaAuth.tlsSecret"));
        assert!(find("oauthbearer").contains("remove it"));
    }

    #[test]
    fn kafka_security_is_checked_with_the_job() {
        let job: super::JobConfig = serde_norway::from_str(
            "transactionalIdPrefix: t\nkafka:\n  bootstrapServers: b:9093\n  security:\n    protocol: SASL_SSL\n  properties:\n    sasl.mechanism: PLAIN\n",
        )
        .unwrap();
        let fields: Vec<&str> = job.validate().iter().map(|e| e.field).collect();
        assert!(
            fields.contains(&"kafka.security.saslMechanism"),
            "{fields:?}"
        );
        assert!(fields.contains(&"kafka.properties"), "{fields:?}");
        let ok: super::JobConfig = serde_norway::from_str(
            "transactionalIdPrefix: t\nkafka:\n  bootstrapServers: b:9093\n  security:\n    protocol: SASL_SSL\n    saslMechanism: SCRAM-SHA-512\n",
        )
        .unwrap();
        assert!(
            ok.validate().iter().all(|e| !e.field.starts_with("kafka")),
            "{:?}",
            ok.validate()
        );
    }

    #[test]
    fn kafka_debug_hides_secret_properties() {
        let cfg = super::KafkaConfig {
            bootstrap_servers: "b:9092".into(),
            security: None,
            properties: [
                ("sasl.password", "hunter2"),
                ("ssl.key.password", "pem-pass"),
                ("sasl.mechanism", "PLAIN"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        };
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("pem-pass"),
            "{shown}"
        );
        assert!(
            shown.contains("PLAIN") && shown.contains("b:9092"),
            "{shown}"
        );
    }

    use super::*;

    fn minimal() -> JobConfig {
        serde_norway::from_str("transactionalIdPrefix: fraud-test\n").unwrap()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = minimal();
        assert_eq!(c.transaction_timeout, Millis::from_secs(900));
        assert_eq!(c.commit_interval, Millis(25));
        assert_eq!(c.watermark.out_of_orderness, Millis::from_secs(5));
        assert_eq!(c.state.checkpoint_interval, Millis::from_secs(30));
        assert_eq!(c.topics.authorizations, "authorizations");
        assert!(c.validate().is_empty(), "{:?}", c.validate());
    }

    #[test]
    fn short_transaction_timeout_names_the_field_and_fix() {
        let mut c = minimal();
        c.transaction_timeout = Millis::from_secs(60);
        let errs = c.validate();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "transactionTimeout");
        assert!(
            errs[0]
                .to_string()
                .contains("fix: raise transactionTimeout"),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn misspelt_field_is_rejected() {
        let err =
            serde_norway::from_str::<JobConfig>("transactionalIdPrefix: x\ncommitIntervall: 1s\n")
                .unwrap_err();
        assert!(err.to_string().contains("commitIntervall"), "{err}");
    }

    #[test]
    fn checkpoint_store_uri_is_checked() {
        let mut c = minimal();
        for good in ["s3://bucket", "s3://bucket/a/b", "file:///tmp/x"] {
            c.state.checkpoint_store = Some(good.into());
            assert!(c.validate().is_empty(), "{good}: {:?}", c.validate());
        }
        for bad in ["s3://", "bucket/x", "file://relative", "gs://b"] {
            c.state.checkpoint_store = Some(bad.into());
            assert_eq!(c.validate()[0].field, "state.checkpointStore", "{bad}");
        }
    }

    #[test]
    fn encryption_needs_a_store_and_a_key_id_that_is_a_file_name() {
        let mut c = minimal();
        c.state.encryption = Some(super::StateEncryption {
            current_key: "2026-12".into(),
            allow_plaintext: false,
        });
        let fields: Vec<&str> = c.validate().iter().map(|e| e.field).collect();
        assert_eq!(fields, ["state.encryption"]);
        c.state.checkpoint_store = Some("s3://b/p".into());
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        for bad in ["", ".hidden", "a/b", &"k".repeat(65)] {
            c.state.encryption.as_mut().unwrap().current_key = bad.into();
            let fields: Vec<&str> = c.validate().iter().map(|e| e.field).collect();
            assert_eq!(fields, ["state.encryption.currentKey"], "{bad:?}");
        }
    }

    #[test]
    fn server_side_encryption_is_one_s3_knows_and_a_kms_key_needs_kms() {
        let mut c = minimal();
        for good in ["AES256", "aws:kms", "aws:kms:dsse"] {
            c.state.s3.sse = Some(good.into());
            assert!(c.validate().is_empty(), "{good}");
        }
        c.state.s3.sse_kms_key_id = Some("alias/fraud-state".into());
        assert!(c.validate().is_empty());
        c.state.s3.sse = Some("AES256".into());
        assert_eq!(c.validate()[0].field, "state.s3.sseKmsKeyId");
        c.state.s3.sse = Some("aes256".into());
        let fields: Vec<&str> = c.validate().iter().map(|e| e.field).collect();
        assert_eq!(fields, ["state.s3.sse", "state.s3.sseKmsKeyId"]);
    }

    #[test]
    fn bad_prefix_is_reported() {
        let mut c = minimal();
        c.transactional_id_prefix = "has space".into();
        assert_eq!(c.validate()[0].field, "transactionalIdPrefix");
    }
}
