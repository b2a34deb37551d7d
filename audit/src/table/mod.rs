//! The audit table: exactly-once appends with their covered offsets, and time-travel reads.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::spec::{SnapshotRef, TableProperties};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, NamespaceIdent, TableCreation, TableIdent};

use crate::catalog::open_catalog;
use crate::config::AuditTableConfig;
use crate::error::{AuditError, Result};
use crate::offsets::{self, LOG_POSITIONS_PROPERTY, OFFSETS_PROPERTY, Offsets};
use crate::schema::{audit_partition_spec, audit_schema};

mod append;
mod pinned;
mod read;

/// Which state of the table a read sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// The current snapshot.
    Current,
    /// A given snapshot id.
    SnapshotId(i64),
    /// The snapshot that was current at this commit time (epoch ms, inclusive).
    TimestampMs(i64),
}

/// What one successful `append` committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub snapshot_id: i64,
    pub rows: usize,
    pub data_files: usize,
    /// The cumulative offsets now in the snapshot summary.
    pub offsets: Offsets,
}

/// One snapshot of the table, as `explain` and operators see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotInfo {
    pub snapshot_id: i64,
    pub parent_id: Option<i64>,
    /// Commit time (wall clock of the committing writer; only used for time travel).
    pub timestamp_ms: i64,
    pub offsets: Offsets,
}

/// A handle on the audit table. Cheap to share (`Arc` inside); every read loads the table's
/// current metadata from the catalog, so it sees commits made by other workers.
#[derive(Debug, Clone)]
pub struct AuditTable {
    cfg: AuditTableConfig,
    name: String,
    ident: TableIdent,
    catalog: Arc<dyn Catalog>,
}

impl AuditTable {
    /// Connects to an existing table (readers such as `explain`, which must not create one).
    pub async fn open(cfg: AuditTableConfig) -> Result<Self> {
        cfg.validate()?;
        let name = cfg.qualified_name();
        let catalog = open_catalog(&cfg).await?;
        let ident = TableIdent::new(
            NamespaceIdent::new(cfg.namespace.clone()),
            cfg.table.clone(),
        );
        let exists = catalog
            .table_exists(&ident)
            .await
            .map_err(|e| AuditError::iceberg(&name, "checking the table", e))?;
        if !exists {
            return Err(AuditError::NoSuchTable {
                table: name,
                catalog: cfg.catalog_description(),
            });
        }
        let table = Self {
            cfg,
            name,
            ident,
            catalog,
        };
        table.check_schema().await?;
        Ok(table)
    }

    /// Connects to the catalog and creates the namespace and table when missing.
    pub async fn open_or_create(cfg: AuditTableConfig) -> Result<Self> {
        cfg.validate()?;
        let name = cfg.qualified_name();
        let catalog = open_catalog(&cfg).await?;
        let namespace = NamespaceIdent::new(cfg.namespace.clone());
        let ident = TableIdent::new(namespace.clone(), cfg.table.clone());
        let ice = |action, e| AuditError::iceberg(&name, action, e);

        let ns_exists = catalog
            .namespace_exists(&namespace)
            .await
            .map_err(|e| ice("checking the namespace", e))?;
        if !ns_exists && let Err(e) = catalog.create_namespace(&namespace, HashMap::new()).await {
            // Another worker may have created it meanwhile; only a still-missing one is an error.
            if !catalog.namespace_exists(&namespace).await.unwrap_or(false) {
                return Err(ice("creating the namespace", e));
            }
        }
        let table_exists = catalog
            .table_exists(&ident)
            .await
            .map_err(|e| ice("checking the table", e))?;
        if !table_exists {
            let creation = TableCreation::builder()
                .name(cfg.table.clone())
                .location(format!(
                    "{}/{}/{}",
                    cfg.warehouse.trim_end_matches('/'),
                    cfg.namespace,
                    cfg.table
                ))
                .schema(audit_schema().map_err(|e| ice("building the schema", e))?)
                .partition_spec(
                    audit_partition_spec().map_err(|e| ice("building the partition spec", e))?,
                )
                .properties(table_properties(&cfg))
                .build();
            match catalog.create_table(&namespace, creation).await {
                Ok(_) => {
                    tracing::info!(table = %name, location = %cfg.warehouse, "audit table created")
                }
                Err(e) if !catalog.table_exists(&ident).await.unwrap_or(false) => {
                    return Err(ice("creating the table", e));
                }
                Err(_) => {}
            }
        }
        let table = Self {
            cfg,
            name,
            ident,
            catalog,
        };
        table.check_schema().await?;
        table.disable_iceberg_commit_retry().await?;
        Ok(table)
    }

    /// A table created by another tool may have Iceberg's commit retry on; see
    /// [`table_properties`] for why appends need it off.
    async fn disable_iceberg_commit_retry(&self) -> Result<()> {
        let table = self.load().await?;
        let key = TableProperties::PROPERTY_COMMIT_NUM_RETRIES;
        if table.metadata().properties().get(key).map(String::as_str) == Some("0") {
            return Ok(());
        }
        let tx = Transaction::new(&table);
        let tx = tx
            .update_table_properties()
            .set(key.to_string(), "0".to_string())
            .apply(tx)
            .map_err(|e| AuditError::iceberg(&self.name, "preparing a property update", e))?;
        tx.commit(self.catalog.as_ref())
            .await
            .map_err(|e| AuditError::iceberg(&self.name, "disabling Iceberg's commit retry", e))?;
        tracing::info!(table = %self.name, "disabled Iceberg's own commit retry on the audit table");
        Ok(())
    }

    pub fn config(&self) -> &AuditTableConfig {
        &self.cfg
    }

    /// `namespace.table`.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn load(&self) -> Result<Table> {
        self.catalog
            .load_table(&self.ident)
            .await
            .map_err(|e| AuditError::iceberg(&self.name, "loading the table", e))
    }

    /// A table created by someone else must still have every column we write.
    async fn check_schema(&self) -> Result<()> {
        let table = self.load().await?;
        let schema = table.metadata().current_schema();
        let expected = audit_schema()
            .map_err(|e| AuditError::iceberg(&self.name, "building the schema", e))?;
        for field in expected.as_struct().fields() {
            if schema.field_by_name(&field.name).is_none() {
                return Err(AuditError::column(
                    &self.name,
                    &field.name,
                    "missing from the existing table (created by another tool?)",
                ));
            }
        }
        Ok(())
    }

    fn snapshot_offsets(&self, snapshot: Option<&SnapshotRef>) -> Result<Offsets> {
        self.snapshot_property(snapshot, OFFSETS_PROPERTY)
    }

    fn snapshot_property(
        &self,
        snapshot: Option<&SnapshotRef>,
        property: &'static str,
    ) -> Result<Offsets> {
        let Some(snapshot) = snapshot else {
            return Ok(Offsets::new());
        };
        offsets::decode(snapshot.summary().additional_properties.get(property)).map_err(|reason| {
            AuditError::Summary {
                table: self.name.clone(),
                snapshot_id: snapshot.snapshot_id(),
                property,
                reason,
            }
        })
    }

    /// Where the writer's row source continues per source partition, as of the current snapshot.
    pub async fn log_positions(&self) -> Result<Offsets> {
        let table = self.load().await?;
        self.snapshot_property(table.metadata().current_snapshot(), LOG_POSITIONS_PROPERTY)
    }

    /// Offsets covered by the current snapshot (empty for an empty table): recovery appends only
    /// decisions at or after these (see [`offsets::uncommitted`]).
    pub async fn committed_offsets(&self) -> Result<Offsets> {
        self.offsets_as_of(AsOf::Current).await
    }

    /// Offsets covered by the snapshot `as_of` selects.
    pub async fn offsets_as_of(&self, as_of: AsOf) -> Result<Offsets> {
        let table = self.load().await?;
        let snapshot = self.resolve(&table, as_of)?;
        self.snapshot_offsets(snapshot.as_ref())
    }
}

/// Table properties set at creation. Iceberg's own commit retry is off because it would re-apply
/// the append with the snapshot properties computed against the old base (a stale offset map);
/// `append` retries itself and re-merges the offsets instead. Turning the retry off is not enough
/// on its own, as Iceberg also rebases the first attempt: see [`pinned`].
fn table_properties(cfg: &AuditTableConfig) -> Vec<(String, String)> {
    vec![
        (
            TableProperties::PROPERTY_COMMIT_NUM_RETRIES.to_string(),
            "0".to_string(),
        ),
        (
            TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES.to_string(),
            cfg.target_file_size_bytes.to_string(),
        ),
        (
            "write.parquet.compression-codec".to_string(),
            "zstd".to_string(),
        ),
    ]
}
