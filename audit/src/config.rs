//! Where the audit table lives and how to reach it.
//!
//! Validation happens before any I/O so that a typo in a StreamJob is reported with the field
//! name and the fix, not as an opaque catalog or object-store error minutes into a run.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sluice_api::StoreUri;

/// Default size at which a data file is closed and the next one started (Iceberg's own default
/// is 512 MiB; audit rows are small, and a checkpoint's worth rarely reaches this anyway).
pub const DEFAULT_TARGET_FILE_SIZE_BYTES: u64 = 128 * 1024 * 1024;

/// The audit table's location and catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditTableConfig {
    pub catalog: CatalogConfig,
    /// Root of the table data: `file:///abs/path` or `s3://bucket/prefix`.
    pub warehouse: String,
    /// Single-level Iceberg namespace, e.g. `sluice`.
    pub namespace: String,
    /// Table name, e.g. `decisions_audit`.
    pub table: String,
    #[serde(default = "default_target_file_size")]
    pub target_file_size_bytes: u64,
    /// Object-store settings; required when `warehouse` is `s3://…`.
    #[serde(default)]
    pub s3: Option<S3Config>,
}

fn default_target_file_size() -> u64 {
    DEFAULT_TARGET_FILE_SIZE_BYTES
}

/// Which Iceberg catalog holds the table pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum CatalogConfig {
    /// The embedded default: Iceberg's SQL catalog on a SQLite file. `uri` is a file path or a
    /// `sqlite:` URI; the file is created when missing.
    Sql { uri: String },
    /// An Iceberg REST catalog, `http(s)://host:port[/prefix]`.
    Rest { uri: String },
}

/// S3 (or S3-compatible) access for `s3://` warehouses. `Debug` shows only whether credentials are set.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Config {
    /// Custom endpoint (MinIO, s3s, …); None for AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    pub region: String,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible servers.
    #[serde(default)]
    pub path_style: bool,
    /// Static credentials; None uses the default AWS credential chain.
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
    #[serde(default)]
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let presence = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &presence(&self.secret_access_key))
            .field("session_token", &presence(&self.session_token))
            .finish()
    }
}

/// A configuration field that cannot work, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}; {fix}")]
pub struct ConfigError {
    pub field: &'static str,
    pub problem: String,
    pub fix: &'static str,
}

fn bad(field: &'static str, problem: impl ToString, fix: &'static str) -> ConfigError {
    ConfigError {
        field,
        problem: problem.to_string(),
        fix,
    }
}

/// Warehouse storage kinds this crate is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarehouseKind {
    File,
    S3,
}

impl AuditTableConfig {
    /// A SQLite-catalog table on the local file system (the embedded default).
    pub fn local(catalog_path: &std::path::Path, warehouse_dir: &std::path::Path) -> Self {
        Self {
            catalog: CatalogConfig::Sql {
                uri: catalog_path.display().to_string(),
            },
            warehouse: format!("file://{}", warehouse_dir.display()),
            namespace: "sluice".to_string(),
            table: "decisions_audit".to_string(),
            target_file_size_bytes: DEFAULT_TARGET_FILE_SIZE_BYTES,
            s3: None,
        }
    }

    /// `namespace.table`, the name used in errors and logs.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.namespace, self.table)
    }

    /// The catalog, for messages.
    pub fn catalog_description(&self) -> String {
        match &self.catalog {
            CatalogConfig::Sql { uri } => format!("SQL catalog {uri}"),
            CatalogConfig::Rest { uri } => format!("REST catalog {uri}"),
        }
    }

    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<WarehouseKind, ConfigError> {
        match &self.catalog {
            CatalogConfig::Sql { uri } => {
                sqlite_uri(uri)?;
            }
            CatalogConfig::Rest { uri } => {
                if !(uri.starts_with("http://") || uri.starts_with("https://")) {
                    return Err(bad(
                        "catalog.uri",
                        format!("REST catalog URI {uri:?} is not http(s)"),
                        "use http://host:port or https://host:port of the REST catalog",
                    ));
                }
            }
        }
        identifier("namespace", &self.namespace)?;
        identifier("table", &self.table)?;
        if self.target_file_size_bytes == 0 {
            return Err(bad(
                "targetFileSizeBytes",
                "is 0",
                "use a positive size, e.g. 134217728 (128 MiB)",
            ));
        }
        let kind = warehouse_kind(&self.warehouse)?;
        match (kind, &self.s3) {
            (WarehouseKind::S3, None) => {
                return Err(bad(
                    "s3",
                    format!("missing for the s3:// warehouse {}", self.warehouse),
                    "set s3.region (and s3.endpoint/pathStyle for an S3-compatible server)",
                ));
            }
            (WarehouseKind::File, Some(_)) => {
                return Err(bad(
                    "s3",
                    format!("set, but the warehouse {} is not s3://", self.warehouse),
                    "remove s3 or point warehouse at s3://bucket/prefix",
                ));
            }
            (WarehouseKind::S3, Some(s3)) => s3.validate()?,
            (WarehouseKind::File, None) => {}
        }
        Ok(kind)
    }

    /// FileIO properties (iceberg's `s3.*` keys) handed to the catalog, which forwards them to
    /// the storage it opens for this table.
    pub(crate) fn file_io_props(&self) -> HashMap<String, String> {
        let mut props = HashMap::new();
        if let Some(s3) = &self.s3 {
            use iceberg::io::{
                S3_ACCESS_KEY_ID, S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_REGION,
                S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN,
            };
            props.insert(S3_REGION.to_string(), s3.region.clone());
            props.insert(S3_PATH_STYLE_ACCESS.to_string(), s3.path_style.to_string());
            let optional = [
                (S3_ENDPOINT, &s3.endpoint),
                (S3_ACCESS_KEY_ID, &s3.access_key_id),
                (S3_SECRET_ACCESS_KEY, &s3.secret_access_key),
                (S3_SESSION_TOKEN, &s3.session_token),
            ];
            for (key, value) in optional {
                if let Some(v) = value {
                    props.insert(key.to_string(), v.clone());
                }
            }
        }
        props
    }
}

impl S3Config {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.region.trim().is_empty() {
            return Err(bad(
                "s3.region",
                "is empty",
                "set the bucket's region, e.g. us-east-1",
            ));
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(bad(
                "s3.endpoint",
                format!("{endpoint:?} is not an http(s) URL"),
                "use e.g. http://127.0.0.1:9000, or leave it unset for AWS",
            ));
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(bad(
                "s3.secretAccessKey",
                "accessKeyId and secretAccessKey must be set together",
                "set both, or neither to use the default credential chain",
            ));
        }
        Ok(())
    }
}

/// The sqlx connection string for a SQLite catalog given as a path or `sqlite:` URI. `mode=rwc`
/// creates the database file on first use (sqlx opens read-write without creating by default).
pub(crate) fn sqlite_uri(uri: &str) -> Result<String, ConfigError> {
    let fix = "give a file path such as /var/lib/sluice/audit-catalog.db (only SQLite is built in)";
    if uri.trim().is_empty() {
        return Err(bad("catalog.uri", "is empty", fix));
    }
    if let Some(rest) = uri.strip_prefix("sqlite:") {
        if rest.contains("mode=") {
            return Ok(uri.to_string());
        }
        let sep = if rest.contains('?') { '&' } else { '?' };
        return Ok(format!("{uri}{sep}mode=rwc"));
    }
    if uri.contains("://") {
        return Err(bad(
            "catalog.uri",
            format!("{uri:?} is not a SQLite database"),
            fix,
        ));
    }
    Ok(format!("sqlite:{uri}?mode=rwc"))
}

fn identifier(field: &'static str, value: &str) -> Result<(), ConfigError> {
    let ok = !value.is_empty()
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !value.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(bad(
            field,
            format!("{value:?} is not a plain identifier"),
            "use letters, digits and _ (not starting with a digit), e.g. decisions_audit",
        ))
    }
}

fn warehouse_kind(warehouse: &str) -> Result<WarehouseKind, ConfigError> {
    match warehouse.parse::<StoreUri>() {
        Ok(StoreUri::File { .. }) => Ok(WarehouseKind::File),
        Ok(StoreUri::S3 { .. }) => Ok(WarehouseKind::S3),
        Err(e) => Err(bad(
            "warehouse",
            e.to_string(),
            "use file:///absolute/path or s3://bucket/prefix",
        )),
    }
}

#[cfg(test)]
mod secret_tests {
    use super::S3Config;

    #[test]
    fn debug_shows_whether_credentials_are_set_never_their_values() {
        let cfg = S3Config {
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: "us-east-1".into(),
            path_style: true,
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI".into()),
            session_token: Some("FwoGZXIvYXdzE".into()),
        };
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("wJalrXUtnFEMI") && !shown.contains("FwoGZXIvYXdzE"),
            "{shown}"
        );
        assert!(
            shown.contains("<redacted>") && shown.contains("AKIDEXAMPLE"),
            "{shown}"
        );
    }
}
