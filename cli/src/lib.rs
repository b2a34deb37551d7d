//! The `sluice` command's parts: the fraud job embedded in local mode (`run`), synthetic input (`produce`),
//! the independent check of a job's outputs (`verify`) and operations on workers, snapshots and the audit
//! table (`ops`). The worker itself lives in `sluice-worker`; this crate drives it.

pub mod kafka_connection;
pub mod local;
pub mod ops;
pub mod produce;
pub mod verify;
