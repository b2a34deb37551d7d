//! Embedded local mode (`sluice run`): the fraud job with no cluster. Implemented by the local-mode module set.

use std::path::Path;

/// Summary of a local run.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LocalSummary {
    pub records: u64,
    pub decisions: u64,
}

/// Why a local run failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("local mode is not implemented yet")]
    NotYet,
}

/// Runs the job described by the local job file at `path`.
pub fn run_file(_path: &Path) -> Result<LocalSummary, LocalError> {
    Err(LocalError::NotYet)
}
