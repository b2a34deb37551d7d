//! Sluice's Iceberg audit table: every decision with the feature vector it was scored on.
//!
//! A worker appends one checkpoint's decisions with [`AuditTable::append`]: Parquet data files
//! per event day, then ONE Iceberg snapshot whose summary carries the per-partition input
//! offsets it covers (`sluice.offsets`). On recovery the worker reads
//! [`AuditTable::committed_offsets`] and appends only what [`uncommitted`] leaves, so every
//! decision is in the table exactly once. Readers find a decision by txn id with time travel
//! ([`AsOf`]); [`explain`] is the CLI's query. Any Iceberg client can read the table: the
//! default catalog is Iceberg's SQL catalog on SQLite (catalog name [`CATALOG_NAME`]).
//!
//! All operations are async and need a tokio runtime (iceberg-rust spawns on the current one).
//! The crate depends on `sluice-core` only: no Kafka or RocksDB.

mod catalog;
pub mod compact;
pub mod config;
mod error;
mod explain;
pub mod offsets;
mod rows;
pub mod schema;
mod table;
mod writer;

pub use catalog::CATALOG_NAME;
pub use compact::{
    CompactError, CompactSummary, CompactedDay, compact_command, compact_command_with,
    parse_output, run_compaction,
};
pub use config::{AuditTableConfig, CatalogConfig, ConfigError, S3Config};
pub use error::{AuditError, Result};
pub use explain::{Explanation, explain};
pub use offsets::{LOG_POSITIONS_PROPERTY, OFFSETS_PROPERTY, Offsets, uncommitted};
pub use table::{Appended, AsOf, AuditTable, SnapshotInfo};
