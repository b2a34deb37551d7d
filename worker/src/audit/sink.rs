//! Appends, after each completed snapshot, the committed decisions the audit table does not hold yet.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientConfig;
use sluice_audit::{Appended, AuditError, AuditTable, AuditTableConfig, Offsets, uncommitted};

use super::keys::AuditKeys;
use super::reader::{ReadRequest, read_partition};
use crate::crash_points;
use crate::kafka::credential_rotation::CredentialRotation;

/// How long one partition's read of the decisions log may take (it waits for open transactions ahead).
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Why an audit append failed. The table is unchanged (or already complete); the next snapshot retries.
#[derive(Debug, thiserror::Error)]
pub enum AuditSinkError {
    #[error(transparent)]
    Table(#[from] AuditError),
    #[error("audit reader: {0}")]
    Kafka(String),
    #[error(
        "audit reader: {topic}/{partition} still at offset {position} below the high watermark {high} after the timeout (a transaction left open?)"
    )]
    Timeout {
        topic: String,
        partition: i32,
        position: i64,
        high: i64,
    },
    #[error("audit reader: {topic}/{partition} offset {offset} is not a decision record: {reason}")]
    Decode {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
    #[error("audit reader task failed: {0}")]
    Join(String),
    #[error("audit table S3 keys: {0}")]
    Keys(String),
}

impl AuditSinkError {
    /// Bounded category for logs and metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Table(_) => "table",
            Self::Kafka(_) | Self::Timeout { .. } | Self::Join(_) => "kafka",
            Self::Decode { .. } => "decode",
            Self::Keys(_) => "credentials",
        }
    }
}

/// Where the committed decisions are read from.
#[derive(Clone)]
pub struct DecisionsLog {
    /// A read_committed consumer config (no group offsets are used).
    pub consumer_config: ClientConfig,
    pub topic: String,
    pub partitions: i32,
    /// Rotating Kafka credentials: each reader is created with the current ones.
    pub credentials: Option<Arc<CredentialRotation>>,
}

impl DecisionsLog {
    /// The config a reader is created from now.
    fn reader_config(&self) -> ClientConfig {
        let mut config = self.consumer_config.clone();
        if let Some(credentials) = &self.credentials {
            credentials.configure(&mut config);
        }
        config
    }
}

/// The audit table and the log its rows come from. Lives on the snapshot service's runtime.
pub struct AuditSink {
    /// Replaced by a handle opened with the new keys when the S3 key files change (see `keys.rs`).
    table: Mutex<AuditTable>,
    keys: AuditKeys,
    log: DecisionsLog,
}

impl AuditSink {
    /// Opens (creating if needed) the table. Call on the runtime that will run [`Self::commit`].
    pub async fn open(
        cfg: AuditTableConfig,
        keys: AuditKeys,
        log: DecisionsLog,
    ) -> Result<AuditSink, AuditSinkError> {
        let cfg = keys
            .refreshed(&cfg)
            .map_err(AuditSinkError::Keys)?
            .unwrap_or(cfg);
        let table = AuditTable::open_or_create(cfg).await?;
        Ok(AuditSink {
            table: Mutex::new(table),
            keys,
            log,
        })
    }

    /// The table handle, opened again first when the S3 key files hold a new pair.
    async fn table(&self) -> Result<AuditTable, AuditSinkError> {
        // Nothing panics while holding the lock (a clone or an assignment), so a poisoned one is still whole.
        let current = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let Some(cfg) = self
            .keys
            .refreshed(current.config())
            .map_err(AuditSinkError::Keys)?
        else {
            return Ok(current);
        };
        let table = AuditTable::open(cfg).await?;
        *self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = table.clone();
        tracing::info!(
            table = table.name(),
            "audit table opened again with rotated S3 keys"
        );
        Ok(table)
    }

    /// `covers`: per source partition, the snapshot's next authorizations offset. Appends every committed
    /// decision below it that the table lacks, in one Iceberg commit carrying the offsets. Partitions the
    /// table already covers that far (e.g. a restore from an older snapshot) are left alone.
    pub async fn commit(&self, covers: &Offsets) -> Result<Option<Appended>, AuditSinkError> {
        let table = self.table().await?;
        let committed = table.committed_offsets().await?;
        let positions = table.log_positions().await?;
        let mut rows = Vec::new();
        let mut advancing = Offsets::new();
        let mut next_positions = Offsets::new();
        for (&p, &until) in covers {
            if committed.get(&p).is_some_and(|&done| done >= until) {
                continue;
            }
            let log = self.log.clone();
            let from = positions.get(&p).copied();
            let read = tokio::task::spawn_blocking(move || {
                read_partition(
                    &log.reader_config(),
                    &ReadRequest {
                        topic: &log.topic,
                        decisions_partitions: log.partitions,
                        source_partition: p,
                        from,
                        until_source_offset: until,
                        timeout: READ_TIMEOUT,
                    },
                )
            })
            .await
            .map_err(|e| AuditSinkError::Join(e.to_string()))??;
            rows.extend(uncommitted(&read.rows, &committed).into_iter().cloned());
            advancing.insert(p, until);
            next_positions.insert(p, read.next_position);
        }
        if advancing.is_empty() {
            return Ok(None);
        }
        crash_points::reach("before_audit_commit");
        let appended = table.append_at(&rows, &advancing, &next_positions).await?;
        crash_points::reach("after_audit_commit");
        Ok(appended)
    }
}
