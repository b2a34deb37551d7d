//! Opening the configured Iceberg catalog.
//!
//! Both catalogs get OpenDAL's resolving storage, which picks the file system or S3 by the
//! location's scheme, so one build reads and writes `file://` and `s3://` warehouses.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_rest::{
    REST_CATALOG_PROP_URI, REST_CATALOG_PROP_WAREHOUSE, RestCatalogBuilder,
};
use iceberg_catalog_sql::{
    SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI, SQL_CATALOG_PROP_WAREHOUSE, SqlBindStyle,
    SqlCatalogBuilder,
};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;

use crate::config::{AuditTableConfig, CatalogConfig, sqlite_uri};
use crate::error::{AuditError, Result};

/// The catalog name rows in the SQL catalog are keyed by. Other clients (PyIceberg's
/// `SqlCatalog("sluice", uri=…)`) must use the same name to see the table.
pub const CATALOG_NAME: &str = "sluice";

/// Connects to the catalog `cfg` names (for SQLite, creating the database file if missing).
pub async fn open_catalog(cfg: &AuditTableConfig) -> Result<Arc<dyn Catalog>> {
    cfg.validate()?;
    let table = cfg.qualified_name();
    let storage = Arc::new(OpenDalResolvingStorageFactory::new());
    let mut props: HashMap<String, String> = cfg.file_io_props();
    let catalog: Arc<dyn Catalog> = match &cfg.catalog {
        CatalogConfig::Sql { uri } => {
            props.insert(SQL_CATALOG_PROP_URI.to_string(), sqlite_uri(uri)?);
            props.insert(
                SQL_CATALOG_PROP_WAREHOUSE.to_string(),
                cfg.warehouse.clone(),
            );
            // SQLite takes `?` placeholders; the builder's default is Postgres' `$1`.
            props.insert(
                SQL_CATALOG_PROP_BIND_STYLE.to_string(),
                SqlBindStyle::QMark.to_string(),
            );
            let catalog = SqlCatalogBuilder::default()
                .with_storage_factory(storage)
                .load(CATALOG_NAME, props)
                .await
                .map_err(|e| AuditError::iceberg(&table, "opening the SQL catalog", e))?;
            Arc::new(catalog)
        }
        CatalogConfig::Rest { uri } => {
            props.insert(REST_CATALOG_PROP_URI.to_string(), uri.clone());
            props.insert(
                REST_CATALOG_PROP_WAREHOUSE.to_string(),
                cfg.warehouse.clone(),
            );
            let catalog = RestCatalogBuilder::default()
                .with_storage_factory(storage)
                .load(CATALOG_NAME, props)
                .await
                .map_err(|e| AuditError::iceberg(&table, "opening the REST catalog", e))?;
            Arc::new(catalog)
        }
    };
    Ok(catalog)
}
