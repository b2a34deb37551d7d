//! Durable snapshots of partition state in the checkpoint store: incremental checkpoints (content-addressed
//! files shared between checkpoints, manifest written last), self-contained savepoints, retention with safe
//! garbage collection, and restore with checksum verification. Where each object lives is the contract
//! `sluice_api::snapshot_layout`, which the operator and the CLI read too. The processing thread only takes the local
//! RocksDB checkpoint (hard links); everything here runs on the background [`service::SnapshotService`].

pub mod files;
pub mod gc;
pub mod restore;
pub mod service;
pub mod upload;

use std::path::Path;

use sluice_store::StoreError;

/// Why a snapshot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Local {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("manifest {key}: {reason}")]
    Manifest { key: String, reason: String },
    #[error("object {object} failed verification: {reason}")]
    Checksum { object: String, reason: String },
    #[error("no savepoint manifest found at {location}")]
    NoSavepoint { location: String },
    #[error("{0}")]
    State(#[from] crate::state::StateError),
}

impl SnapshotError {
    pub fn local(path: &Path, source: std::io::Error) -> SnapshotError {
        SnapshotError::Local {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Wall-clock ms since the epoch: snapshot metadata only (ids, creation time), never processing.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
