//! The worker's environment: every variable the operator sets on a worker pod and the worker reads, named
//! once. Everything ordinal-specific travels here so the job ConfigMap stays shared by all workers.

/// The worker's identity (`p<parallelism>-w<ordinal>`), part of its transactional id.
pub const WORKER_IDENTITY: &str = "SLUICE_WORKER_IDENTITY";
/// The input partitions the worker owns, comma-separated.
pub const WORKER_PARTITIONS: &str = "SLUICE_WORKER_PARTITIONS";
/// The directory of the worker's local state (RocksDB).
pub const STATE_DIR: &str = "SLUICE_STATE_DIR";
/// Transactional ids of the previous layout to fence before the first transaction, comma-separated.
pub const FENCE_TRANSACTIONAL_IDS: &str = "SLUICE_FENCE_TRANSACTIONAL_IDS";
/// The savepoint (or checkpoint) directory to restore from.
pub const RESTORE_FROM: &str = "SLUICE_RESTORE_FROM";
/// The state lineage the worker continues: snapshots of another lineage are never restored (except the
/// savepoint named by `SLUICE_RESTORE_FROM`, the root of a new lineage after a redeploy from it).
pub const LINEAGE: &str = "SLUICE_LINEAGE";
/// Overrides `job.state.checkpointStore`.
pub const CHECKPOINT_STORE: &str = "SLUICE_CHECKPOINT_STORE";
/// Overrides `job.kafka.bootstrap`.
pub const KAFKA_BOOTSTRAP: &str = "SLUICE_KAFKA_BOOTSTRAP";
/// Files holding the SASL username and password (a mounted Secret), never the values themselves.
pub const KAFKA_SASL_USERNAME_FILE: &str = "SLUICE_KAFKA_SASL_USERNAME_FILE";
pub const KAFKA_SASL_PASSWORD_FILE: &str = "SLUICE_KAFKA_SASL_PASSWORD_FILE";
/// The directory of the Kafka TLS files `job.kafka.security` uses (a mounted Secret: `ca.crt`, and for a
/// client certificate `tls.crt` and `tls.key`).
pub const KAFKA_TLS_DIR: &str = "SLUICE_KAFKA_TLS_DIR";
/// The directory of the state encryption keys (a mounted Secret: one file per key id, 32 bytes in base64).
pub const STATE_KEYS_DIR: &str = "SLUICE_STATE_KEYS_DIR";
/// The scoring model file (a mounted ConfigMap key).
pub const MODEL_PATH: &str = "SLUICE_MODEL_PATH";
/// The control API's bind address, its bearer-token file and its TLS certificate and key files.
pub const CONTROL_ADDR: &str = "SLUICE_CONTROL_ADDR";
pub const CONTROL_TOKEN_FILE: &str = "SLUICE_CONTROL_TOKEN_FILE";
pub const CONTROL_TLS_CERT_FILE: &str = "SLUICE_CONTROL_TLS_CERT_FILE";
pub const CONTROL_TLS_KEY_FILE: &str = "SLUICE_CONTROL_TLS_KEY_FILE";
/// People's access to the control API: [`crate::control_oidc::OidcSettings`] as JSON.
pub const CONTROL_OIDC: &str = "SLUICE_CONTROL_OIDC";
/// The Prometheus endpoint's bind address.
pub const METRICS_ADDR: &str = "SLUICE_METRICS_ADDR";
/// `json` for JSON log lines; anything else is text.
pub const LOG_FORMAT: &str = "SLUICE_LOG_FORMAT";
/// The `tracing` filter (the ecosystem's name, kept).
pub const LOG_FILTER: &str = "RUST_LOG";
/// The pod's name and IP (downward API).
pub const POD_NAME: &str = "POD_NAME";
pub const POD_IP: &str = "POD_IP";
/// The object store credentials, read by the AWS SDK (from the job's credentials Secret).
/// A directory of S3 key files (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally
/// `AWS_SESSION_TOKEN`) the checkpoint store reads again about every minute, so rotated keys need no restart.
pub const S3_CREDENTIALS_DIR: &str = "SLUICE_S3_CREDENTIALS_DIR";
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
