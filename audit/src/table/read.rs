//! Reads of the audit table: snapshot selection (time travel), txn lookup and row counts.

use futures::TryStreamExt;
use iceberg::expr::{Predicate, Reference};
use iceberg::scan::FileScanTask;
use iceberg::spec::{Datum, SnapshotRef};
use iceberg::table::Table;
use sluice_core::processor::DecisionRecord;

use super::{AsOf, AuditTable, SnapshotInfo};
use crate::error::{AuditError, Result};
use crate::rows::from_batch;
use crate::schema::col;

impl AuditTable {
    /// The snapshot `as_of` selects (None: `Current` on a table without snapshots).
    pub async fn snapshot_info(&self, as_of: AsOf) -> Result<Option<SnapshotInfo>> {
        let table = self.load().await?;
        match self.resolve(&table, as_of)? {
            None => Ok(None),
            Some(snapshot) => Ok(Some(self.info(&snapshot)?)),
        }
    }

    pub(super) fn info(&self, snapshot: &SnapshotRef) -> Result<SnapshotInfo> {
        Ok(SnapshotInfo {
            snapshot_id: snapshot.snapshot_id(),
            parent_id: snapshot.parent_snapshot_id(),
            timestamp_ms: snapshot.timestamp_ms(),
            offsets: self.snapshot_offsets(Some(snapshot))?,
        })
    }

    /// Every snapshot, oldest first.
    pub async fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        let table = self.load().await?;
        let mut out = Vec::new();
        for snapshot in table.metadata().snapshots() {
            out.push(self.info(snapshot)?);
        }
        out.sort_by_key(|s| (s.timestamp_ms, s.snapshot_id));
        Ok(out)
    }

    /// The snapshot `as_of` selects; `None` only for `Current` on a table without snapshots.
    pub(super) fn resolve(&self, table: &Table, as_of: AsOf) -> Result<Option<SnapshotRef>> {
        let metadata = table.metadata();
        let missing = |reason: String| AuditError::NoSuchSnapshot {
            table: self.name.clone(),
            reason,
        };
        match as_of {
            AsOf::Current => Ok(metadata.current_snapshot().cloned()),
            AsOf::SnapshotId(id) => metadata
                .snapshot_by_id(id)
                .cloned()
                .map(Some)
                .ok_or_else(|| missing(format!("no snapshot with id {id}"))),
            AsOf::TimestampMs(t) => {
                // The snapshot log lists which snapshot became current when; the last entry at
                // or before t is the state a reader saw at t.
                let entry = metadata
                    .history()
                    .iter()
                    .filter(|log| log.timestamp_ms <= t)
                    .max_by_key(|log| log.timestamp_ms)
                    .ok_or_else(|| missing(format!("no snapshot was current at {t} ms")))?;
                metadata
                    .snapshot_by_id(entry.snapshot_id)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| {
                        missing(format!(
                            "snapshot {} (current at {t} ms) has been expired",
                            entry.snapshot_id
                        ))
                    })
            }
        }
    }

    /// Every row with `txn_id` in the selected snapshot (more than one would mean a duplicate).
    pub async fn find_all(&self, txn_id: &str, as_of: AsOf) -> Result<Vec<DecisionRecord>> {
        let filter = Reference::new(col::TXN_ID).equal_to(Datum::string(txn_id));
        let rows = self.scan(as_of, Some(filter)).await?;
        // The filter prunes files and row groups; re-check rows so correctness never depends on how much of
        // the predicate the reader applied.
        Ok(rows.into_iter().filter(|r| r.txn_id == txn_id).collect())
    }

    /// Every row of the selected snapshot (audits and tests; a full table scan).
    pub async fn all_rows(&self, as_of: AsOf) -> Result<Vec<DecisionRecord>> {
        self.scan(as_of, None).await
    }

    async fn scan(&self, as_of: AsOf, filter: Option<Predicate>) -> Result<Vec<DecisionRecord>> {
        let table = self.load().await?;
        let Some(snapshot) = self.resolve(&table, as_of)? else {
            return Ok(Vec::new());
        };
        let mut builder = table
            .scan()
            .snapshot_id(snapshot.snapshot_id())
            .select_all();
        if let Some(f) = filter {
            builder = builder.with_filter(f);
        }
        let scan = builder
            .build()
            .map_err(|e| AuditError::iceberg(&self.name, "planning the scan", e))?;
        let batches: Vec<_> = scan
            .to_arrow()
            .await
            .map_err(|e| AuditError::iceberg(&self.name, "scanning the table", e))?
            .try_collect()
            .await
            .map_err(|e| AuditError::iceberg(&self.name, "reading the scan", e))?;
        let mut rows = Vec::new();
        for batch in &batches {
            rows.extend(from_batch(&self.name, batch)?);
        }
        Ok(rows)
    }

    /// The decision for `txn_id` with its feature vector, as of the selected snapshot.
    pub async fn find_txn(&self, txn_id: &str, as_of: AsOf) -> Result<Option<DecisionRecord>> {
        let mut found = self.find_all(txn_id, as_of).await?;
        if found.len() > 1 {
            tracing::warn!(table = %self.name, txn_id, rows = found.len(), "duplicate audit rows for one txn");
        }
        Ok(if found.is_empty() {
            None
        } else {
            Some(found.swap_remove(0))
        })
    }

    /// The data files of the selected snapshot (empty for an empty table).
    async fn data_files(&self, as_of: AsOf) -> Result<Vec<FileScanTask>> {
        let table = self.load().await?;
        let Some(snapshot) = self.resolve(&table, as_of)? else {
            return Ok(Vec::new());
        };
        let scan = table
            .scan()
            .snapshot_id(snapshot.snapshot_id())
            .build()
            .map_err(|e| AuditError::iceberg(&self.name, "planning the file listing", e))?;
        scan.plan_files()
            .await
            .map_err(|e| AuditError::iceberg(&self.name, "planning the file listing", e))?
            .try_collect()
            .await
            .map_err(|e| AuditError::iceberg(&self.name, "listing data files", e))
    }

    /// Number of data files in the selected snapshot (compaction lowers it).
    pub async fn data_file_count(&self, as_of: AsOf) -> Result<usize> {
        Ok(self.data_files(as_of).await?.len())
    }

    /// Number of rows in the selected snapshot, from the manifests' per-file record counts.
    pub async fn row_count(&self, as_of: AsOf) -> Result<u64> {
        let tasks = self.data_files(as_of).await?;
        let mut count = 0u64;
        for task in tasks {
            count += task.record_count.ok_or_else(|| {
                AuditError::column(
                    &self.name,
                    "<manifest>",
                    format!("{} has no record count", task.data_file_path),
                )
            })?;
        }
        Ok(count)
    }
}
