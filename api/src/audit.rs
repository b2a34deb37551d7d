//! `spec.job.audit`: the Iceberg audit table every decision's feature vector is appended to, exactly once
//! per completed checkpoint (see `docs/audit.md`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::job_config::ConfigError;
use crate::store_uri::StoreUri;

/// Where the audit table lives. Object-store settings for an `s3://` warehouse come from `state.s3`, and
/// credentials from the standard AWS environment, as for the checkpoint store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditSpec {
    /// The Iceberg catalog holding the table pointer.
    pub catalog: AuditCatalog,
    /// Root of the table's data and metadata files: `s3://bucket/prefix` or `file:///absolute/dir`.
    pub warehouse: String,
    /// Iceberg namespace (one level).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Table name.
    #[serde(default = "default_table")]
    pub table: String,
    /// A data file is closed at about this size (small-file control; a checkpoint's rows per event day
    /// usually fit one file).
    #[serde(default = "default_target_file_mib")]
    pub target_file_size_mib: u32,
}

/// The Iceberg catalog (a plain struct rather than a tagged enum: CRD schemas must be structural).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditCatalog {
    #[serde(rename = "type")]
    pub kind: CatalogKind,
    /// `sql`: a SQLite file path or `sqlite:` URI; `rest`: `http(s)://host:port[/prefix]`.
    pub uri: String,
}

/// Catalog kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CatalogKind {
    /// Iceberg's SQL catalog on a SQLite file — the embedded default; one machine or a shared volume.
    Sql,
    /// An Iceberg REST catalog — for workers on many machines.
    Rest,
}

fn default_namespace() -> String {
    "sluice".into()
}

fn default_table() -> String {
    "decisions_audit".into()
}

fn default_target_file_mib() -> u32 {
    128
}

impl AuditSpec {
    /// Problems with the audit section; `has_store`: whether `state.checkpointStore` is set.
    pub fn validate(&self, has_store: bool) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        if !has_store {
            errs.push(ConfigError {
                field: "audit",
                problem: "needs a durable checkpoint store: rows are appended when a checkpoint completes".into(),
                fix: "set state.checkpointStore (s3://bucket/prefix or file:///dir), or remove audit".into(),
            });
        }
        if let Err(e) = self.warehouse.parse::<StoreUri>() {
            errs.push(ConfigError {
                field: "audit.warehouse",
                problem: e.to_string(),
                fix: "use e.g. \"s3://sluice-audit/warehouse\" or \"file:///var/lib/sluice/audit\""
                    .into(),
            });
        }
        if self.catalog.uri.trim().is_empty() {
            errs.push(ConfigError {
                field: "audit.catalog.uri",
                problem: "is empty".into(),
                fix: "a SQLite file path for type sql (e.g. /var/lib/sluice/audit/catalog.db), an http(s) URL for type rest".into(),
            });
        }
        for (field, v) in [
            ("audit.namespace", &self.namespace),
            ("audit.table", &self.table),
        ] {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                errs.push(ConfigError {
                    field,
                    problem: format!("{v:?} is not 1+ characters of [A-Za-z0-9_]"),
                    fix: "use e.g. \"sluice\" / \"decisions_audit\" (the defaults)".into(),
                });
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(warehouse: &str, uri: &str) -> AuditSpec {
        AuditSpec {
            catalog: AuditCatalog {
                kind: CatalogKind::Sql,
                uri: uri.into(),
            },
            warehouse: warehouse.into(),
            namespace: default_namespace(),
            table: default_table(),
            target_file_size_mib: 128,
        }
    }

    #[test]
    fn each_problem_names_its_field() {
        assert!(spec("s3://b/w", "/c.db").validate(true).is_empty());
        assert!(spec("file:///a/w", "/c.db").validate(true).is_empty());
        let fields = |s: AuditSpec, store| -> Vec<&str> {
            s.validate(store).iter().map(|e| e.field).collect()
        };
        assert_eq!(fields(spec("s3://b/w", "/c.db"), false), ["audit"]);
        assert_eq!(fields(spec("b/w", "/c.db"), true), ["audit.warehouse"]);
        assert_eq!(
            fields(spec("file://rel", " "), true),
            ["audit.warehouse", "audit.catalog.uri"]
        );
        let mut bad = spec("s3://b", "/c.db");
        bad.table = "decisions-audit".into();
        assert_eq!(fields(bad, true), ["audit.table"]);
    }

    #[test]
    fn parses_from_yaml_with_defaults() {
        let s: AuditSpec =
            serde_norway::from_str("catalog: {type: sql, uri: /x/c.db}\nwarehouse: s3://b/w\n")
                .unwrap();
        assert_eq!(s.table, "decisions_audit");
        assert_eq!(s.namespace, "sluice");
        assert_eq!(s.catalog.kind, CatalogKind::Sql);
        assert_eq!(s.catalog.uri, "/x/c.db");
    }
}
