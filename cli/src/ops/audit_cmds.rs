//! `sluice audit …`: queries of the Iceberg audit table named in a job config (`audit:`).

use sluice_api::JobConfig;
use sluice_audit::{AsOf, AuditTable};

use super::OpsError;
use sluice_worker::audit::config::table_config;

/// Opens the job's audit table (never creates it).
async fn open(job: &JobConfig) -> Result<AuditTable, OpsError> {
    let spec = job.audit.as_ref().ok_or_else(|| {
        OpsError::Failed(
            "the job has no audit table: add an `audit:` section (catalog, warehouse) to the job"
                .into(),
        )
    })?;
    AuditTable::open(table_config(job, spec))
        .await
        .map_err(|e| OpsError::Failed(e.to_string()))
}

/// Which snapshot to read: `--snapshot-id` wins over `--as-of-ms`; neither is the current one.
pub fn as_of(snapshot_id: Option<i64>, as_of_ms: Option<i64>) -> AsOf {
    match (snapshot_id, as_of_ms) {
        (Some(id), _) => AsOf::SnapshotId(id),
        (None, Some(t)) => AsOf::TimestampMs(t),
        (None, None) => AsOf::Current,
    }
}

/// The decision for `txn_id` and the features it was scored on, as of `as_of`; text or JSON.
pub async fn explain(
    job: &JobConfig,
    txn_id: &str,
    as_of: AsOf,
    json: bool,
) -> Result<String, OpsError> {
    let table = open(job).await?;
    let e = sluice_audit::explain(&table, txn_id, as_of)
        .await
        .map_err(|e| OpsError::Failed(e.to_string()))?;
    if json {
        serde_json::to_string_pretty(&e).map_err(|e| OpsError::Failed(e.to_string()))
    } else {
        Ok(e.to_string())
    }
}

/// Rewrites the small data files of each event day with at least `min_files` of them (only `day`,
/// YYYY-MM-DD, when given) with PyIceberg, keeping rows and offsets; prints compact.py's summary.
pub fn compact(job: &JobConfig, min_files: u32, day: Option<&str>) -> Result<String, OpsError> {
    let spec = job.audit.as_ref().ok_or_else(|| {
        OpsError::Failed(
            "the job has no audit table: add an `audit:` section (catalog, warehouse) to the job"
                .into(),
        )
    })?;
    let cfg = table_config(job, spec);
    let cmd = sluice_audit::compact_command(&cfg, min_files, day)
        .map_err(|e| OpsError::Failed(e.to_string()))?;
    let summary =
        sluice_audit::run_compaction(&cfg, cmd).map_err(|e| OpsError::Failed(e.to_string()))?;
    serde_json::to_string_pretty(&summary).map_err(|e| OpsError::Failed(e.to_string()))
}
