//! Errors of the audit table. Each names the table (or field, or file) it concerns, because the
//! worker logs them next to unrelated Kafka and checkpoint errors.

use crate::config::ConfigError;

/// Any failure of an audit-table operation.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("invalid audit table configuration: {0}")]
    Config(#[from] ConfigError),

    /// An error from iceberg-rust (catalog, FileIO, Parquet writer, scan), with what we were doing.
    #[error("audit table {table}: {action}: {source}")]
    Iceberg {
        table: String,
        action: &'static str,
        /// Boxed: iceberg's error is large and would bloat every `Result` of this crate.
        #[source]
        source: Box<iceberg::Error>,
    },

    /// An Arrow array could not be built or read back in the shape the audit schema prescribes.
    #[error("audit table {table}: column {column}: {reason}")]
    Column {
        table: String,
        column: String,
        reason: String,
    },

    /// A value of a decision cannot be stored losslessly (e.g. a u64 feature above i64::MAX).
    #[error("audit table {table}: txn {txn_id}: field {field}: {reason}")]
    Value {
        table: String,
        txn_id: String,
        field: &'static str,
        reason: String,
    },

    /// The rows handed to `append` do not fit the offsets they claim to cover, or they would
    /// duplicate / move back offsets that are already committed (a stale or zombie writer).
    #[error("audit table {table}: append rejected: {reason}")]
    Batch { table: String, reason: String },

    /// The snapshot summary's offset map is not what this crate writes.
    #[error("audit table {table}: snapshot {snapshot_id}: property {property}: {reason}")]
    Summary {
        table: String,
        snapshot_id: i64,
        property: &'static str,
        reason: String,
    },

    #[error("audit table {table} does not exist in {catalog}")]
    NoSuchTable { table: String, catalog: String },

    /// Time travel to a snapshot that does not exist (or to a time before the first snapshot).
    #[error("audit table {table}: {reason}")]
    NoSuchSnapshot { table: String, reason: String },

    /// Another writer committed between our read and our commit more often than we retry.
    #[error("audit table {table}: commit still conflicting after {attempts} attempts")]
    CommitConflict { table: String, attempts: u32 },
}

impl AuditError {
    pub(crate) fn iceberg(table: &str, action: &'static str, source: iceberg::Error) -> Self {
        Self::Iceberg {
            table: table.to_string(),
            action,
            source: Box::new(source),
        }
    }

    pub(crate) fn column(table: &str, column: &str, reason: impl ToString) -> Self {
        Self::Column {
            table: table.to_string(),
            column: column.to_string(),
            reason: reason.to_string(),
        }
    }
}

pub type Result<T, E = AuditError> = std::result::Result<T, E>;
