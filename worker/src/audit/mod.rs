//! The worker's side of the Iceberg audit table (`spec.job.audit`).
//!
//! After every completed snapshot (checkpoint or savepoint) the snapshot service appends, per owned
//! partition, the committed decisions below the snapshot's input offsets that the table does not hold yet,
//! in one Iceberg commit whose summary records those offsets ([`sluice_audit::OFFSETS_PROPERTY`]) and where
//! the decisions log continues ([`sluice_audit::LOG_POSITIONS_PROPERTY`]).
//!
//! The rows come from the `decisions` topic read with read_committed: exactly the records consumers saw,
//! byte for byte. A crash anywhere (before, during or after the Iceberg commit) loses nothing: the next
//! snapshot after the restart starts from the table's own committed offsets and log positions, re-reads the
//! same committed decisions and appends only what is missing.

pub mod config;
pub mod keys;
pub mod reader;
pub mod sink;

pub use sink::{AuditSink, AuditSinkError};
