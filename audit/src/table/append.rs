//! Appends: one checkpoint's decisions and the offsets they cover as ONE snapshot, retried with
//! the offsets re-merged when another writer committed first.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::ErrorKind;
use iceberg::spec::DataFile;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use sluice_core::processor::DecisionRecord;

use super::pinned::PinnedBase;
use super::{Appended, AuditTable};
use crate::error::{AuditError, Result};
use crate::offsets::{self, LOG_POSITIONS_PROPERTY, OFFSETS_PROPERTY, Offsets};
use crate::writer::write_data_files;

/// How often `append` re-reads the table and retries after another writer committed first.
/// One writer per worker: with many workers committing together, one can lose several races in a row.
const MAX_COMMIT_ATTEMPTS: u32 = 10;

/// The pause before retry n is n times this, so colliding writers spread out instead of colliding again.
const COMMIT_RETRY_STEP: std::time::Duration = std::time::Duration::from_millis(20);

/// What the current snapshot's summary says an append builds on.
struct Base {
    /// `sluice.offsets`: the source offsets the table covers.
    committed: Offsets,
    /// `sluice.log-positions`: where the writer's row source continues.
    log_positions: Offsets,
}

impl AuditTable {
    /// Appends `rows` (one checkpoint's decisions, written in the given order within each event
    /// day) as ONE snapshot whose summary records `covers` merged into the previous offsets.
    ///
    /// Atomic: the data files become visible together with the offsets in a single catalog
    /// commit, or not at all. Returns `None` when there is nothing to commit (no rows and no
    /// partition advances). Rows already covered by committed offsets, rows outside `covers`
    /// and offsets moving back are rejected (see [`offsets::check_append`]).
    pub async fn append(
        &self,
        rows: &[DecisionRecord],
        covers: &Offsets,
    ) -> Result<Option<Appended>> {
        self.append_at(rows, covers, &Offsets::new()).await
    }

    /// [`Self::append`], also recording per source partition where the writer's source of rows (the
    /// decisions log) continues (`sluice.log-positions`, merged like the offsets), in the same commit.
    pub async fn append_at(
        &self,
        rows: &[DecisionRecord],
        covers: &Offsets,
        log_positions: &Offsets,
    ) -> Result<Option<Appended>> {
        let mut table = self.load().await?;
        let mut base = self.append_base(&table)?;
        let advances = covers.iter().any(|(p, o)| base.committed.get(p) != Some(o));
        if rows.is_empty() && !advances {
            return Ok(None);
        }
        self.check(rows, covers, &base.committed)?;
        let prefix = format!("audit-{}", uuid::Uuid::now_v7());
        let files = write_data_files(
            &table,
            &self.name,
            rows,
            self.cfg.target_file_size_bytes,
            &prefix,
        )
        .await?;
        let data_files = files.len();

        for attempt in 1..=MAX_COMMIT_ATTEMPTS {
            let merged = offsets::merge(&base.committed, covers);
            let properties = HashMap::from([
                (OFFSETS_PROPERTY.to_string(), offsets::encode(&merged)),
                (
                    LOG_POSITIONS_PROPERTY.to_string(),
                    offsets::encode(&offsets::merge(&base.log_positions, log_positions)),
                ),
            ]);
            if let Some(updated) = self.commit_append(&table, &files, properties).await? {
                return self
                    .appended(&updated, rows.len(), data_files, merged)
                    .map(Some);
            }
            // Someone else committed first: rebase on their snapshot, re-merge offsets
            // (the data files stay valid) and re-check that we are not now a duplicate.
            tracing::warn!(table = %self.name, attempt, "audit commit conflict, retrying");
            tokio::time::sleep(COMMIT_RETRY_STEP * attempt).await;
            table = self.load().await?;
            base = self.append_base(&table)?;
            self.check(rows, covers, &base.committed)?;
        }
        Err(AuditError::CommitConflict {
            table: self.name.clone(),
            attempts: MAX_COMMIT_ATTEMPTS,
        })
    }

    fn append_base(&self, table: &Table) -> Result<Base> {
        let committed = self.snapshot_offsets(table.metadata().current_snapshot())?;
        let log_positions =
            self.snapshot_property(table.metadata().current_snapshot(), LOG_POSITIONS_PROPERTY)?;
        Ok(Base {
            committed,
            log_positions,
        })
    }

    fn check(&self, rows: &[DecisionRecord], covers: &Offsets, committed: &Offsets) -> Result<()> {
        offsets::check_append(rows, covers, committed).map_err(|reason| AuditError::Batch {
            table: self.name.clone(),
            reason,
        })
    }

    /// One commit of `files` with the summary `properties` on exactly `table` (see [`PinnedBase`]):
    /// the updated table, or `None` when another writer committed first.
    async fn commit_append(
        &self,
        table: &Table,
        files: &[DataFile],
        properties: HashMap<String, String>,
    ) -> Result<Option<Table>> {
        let tx = Transaction::new(table);
        let pinned = PinnedBase::new(Arc::clone(&self.catalog), table.clone());
        let tx = tx
            .fast_append()
            .add_data_files(files.to_vec())
            .set_snapshot_properties(properties)
            .apply(tx)
            .map_err(|e| AuditError::iceberg(&self.name, "preparing the append", e))?;
        match tx.commit(&pinned).await {
            Ok(updated) => Ok(Some(updated)),
            Err(e) if e.kind() == ErrorKind::CatalogCommitConflicts => Ok(None),
            Err(e) => Err(AuditError::iceberg(&self.name, "committing the append", e)),
        }
    }

    fn appended(
        &self,
        updated: &Table,
        rows: usize,
        data_files: usize,
        offsets: Offsets,
    ) -> Result<Appended> {
        let snapshot_id =
            updated
                .metadata()
                .current_snapshot_id()
                .ok_or_else(|| AuditError::NoSuchSnapshot {
                    table: self.name.clone(),
                    reason: "no current snapshot right after an append".to_string(),
                })?;
        tracing::info!(table = %self.name, snapshot_id, rows, data_files, "audit append committed");
        Ok(Appended {
            snapshot_id,
            rows,
            data_files,
            offsets,
        })
    }
}
