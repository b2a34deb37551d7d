//! A catalog view that commits against one fixed base, so a lost race is a conflict, not a rebase.
//!
//! Iceberg's `Transaction::commit` reloads the table before it commits and, when another writer
//! has committed since the transaction was built, silently re-applies its actions to the newer
//! table. For a plain append that is harmless; for the audit table it is a lost update, because
//! the snapshot properties (the merged Kafka offsets) were computed from the older base and would
//! overwrite the other writer's offsets. Seen as a lost partition when two writers appended at
//! the same moment.
//!
//! [`PinnedBase`] answers that reload with the base the caller computed from, so the commit carries
//! that base's requirements (table UUID and `main` at the base's snapshot) and the catalog's own
//! check refuses it if anything landed in between. Conflicts are made non-retryable so Iceberg's
//! retry loop (which would reload the same pinned base) hands them straight back to the caller,
//! who re-reads the table and re-merges.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use iceberg::table::Table;
use iceberg::{
    Catalog, ErrorKind, Namespace, NamespaceIdent, Result, TableCommit, TableCreation, TableIdent,
};

#[derive(Debug)]
pub(super) struct PinnedBase {
    inner: Arc<dyn Catalog>,
    base: Table,
}

impl PinnedBase {
    pub(super) fn new(inner: Arc<dyn Catalog>, base: Table) -> Self {
        Self { inner, base }
    }
}

#[async_trait]
impl Catalog for PinnedBase {
    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        if table == self.base.identifier() {
            return Ok(self.base.clone());
        }
        self.inner.load_table(table).await
    }

    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        self.inner.update_table(commit).await.map_err(|e| {
            let conflict = e.kind() == ErrorKind::CatalogCommitConflicts;
            if conflict { e.with_retryable(false) } else { e }
        })
    }

    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> Result<Vec<NamespaceIdent>> {
        self.inner.list_namespaces(parent).await
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        self.inner.create_namespace(namespace, properties).await
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        self.inner.get_namespace(namespace).await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        self.inner.namespace_exists(namespace).await
    }

    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        self.inner.update_namespace(namespace, properties).await
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        self.inner.drop_namespace(namespace).await
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        self.inner.list_tables(namespace).await
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> Result<Table> {
        self.inner.create_table(namespace, creation).await
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.drop_table(table).await
    }

    async fn purge_table(&self, table: &TableIdent) -> Result<()> {
        self.inner.purge_table(table).await
    }

    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        self.inner.table_exists(table).await
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        self.inner.rename_table(src, dest).await
    }

    async fn register_table(&self, table: &TableIdent, metadata_location: String) -> Result<Table> {
        self.inner.register_table(table, metadata_location).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use iceberg::transaction::{ApplyTransactionAction, Transaction};
    use sluice_core::features::FeatureVector;
    use sluice_core::model::Decision;
    use sluice_core::processor::DecisionRecord;

    use super::*;
    use crate::config::AuditTableConfig;
    use crate::offsets::Offsets;
    use crate::table::AuditTable;
    use crate::writer::write_data_files;

    fn row(offset: i64) -> DecisionRecord {
        DecisionRecord {
            txn_id: format!("txn-{offset}"),
            card_id: "card-1".to_string(),
            decision: Decision::Approve,
            score: 0,
            reasons: vec![],
            features: FeatureVector {
                txn_count_60s: 1,
                amount_sum_1h_minor: 100,
                distinct_merchants_10m: 1,
                device_seen_before: false,
                device_trusted: false,
                ms_since_prev_txn: None,
                country_mismatch: false,
                amount_ratio_30d_bp: None,
                card_blocked: false,
            },
            model_version: "model-v1".to_string(),
            source_partition: 0,
            source_offset: offset,
            event_time_ms: 1_709_251_200_000,
        }
    }

    /// An append transaction built on `base`, adding one data file.
    async fn append_on(base: &Table, offset: i64) -> Transaction {
        let name = base.identifier().to_string();
        let (rows, prefix) = ([row(offset)], format!("t{offset}"));
        let files = write_data_files(base, &name, &rows, 1 << 20, &prefix);
        let files = files.await.unwrap();
        let tx = Transaction::new(base);
        tx.fast_append().add_data_files(files).apply(tx).unwrap()
    }

    #[tokio::test]
    async fn a_commit_on_a_stale_base_conflicts_instead_of_rebasing() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = AuditTableConfig::local(&dir.path().join("c.db"), &dir.path().join("w"));
        let table = AuditTable::open_or_create(cfg).await.unwrap();
        let base = table.load().await.unwrap();
        // Another writer commits after `base` was read.
        let covers = Offsets::from([(0, 1)]);
        table.append(&[row(0)], &covers).await.unwrap().unwrap();

        let pinned = PinnedBase::new(Arc::clone(&table.catalog), base.clone());
        let err = append_on(&base, 1).await.commit(&pinned).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CatalogCommitConflicts, "{err}");
        assert!(
            !err.retryable(),
            "Iceberg's retry would reload the same base"
        );
        assert_eq!(
            table.load().await.unwrap().metadata().snapshots().count(),
            1
        );

        // What the pin prevents: Iceberg's own commit quietly re-applies the append on the newer
        // table (if a later Iceberg stops doing that, this pin may become unnecessary).
        let rebased = append_on(&base, 2)
            .await
            .commit(table.catalog.as_ref())
            .await;
        assert_eq!(rebased.unwrap().metadata().snapshots().count(), 2);
    }
}
