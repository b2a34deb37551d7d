//! `spec.job.audit` (crds) → the audit crate's table config, with the checkpoint store's S3 settings.

use sluice_api::JobConfig;
use sluice_api::StoreUri;
use sluice_api::audit::{AuditSpec, CatalogKind};
use sluice_audit::{AuditTableConfig, CatalogConfig, S3Config};

/// The table config for `spec`. An `s3://` warehouse uses `state.s3` (endpoint, region, path style) and the
/// standard AWS credential variables; where the key files are mounted, `keys.rs` puts their pair in instead.
pub fn table_config(job: &JobConfig, spec: &AuditSpec) -> AuditTableConfig {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let on_s3 = matches!(spec.warehouse.parse(), Ok(StoreUri::S3 { .. }));
    let s3 = on_s3.then(|| S3Config {
        endpoint: job.state.s3.endpoint.clone(),
        region: job.state.s3.region.clone(),
        path_style: job.state.s3.path_style,
        access_key_id: env("AWS_ACCESS_KEY_ID"),
        secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
        session_token: env("AWS_SESSION_TOKEN"),
    });
    AuditTableConfig {
        catalog: match spec.catalog.kind {
            CatalogKind::Sql => CatalogConfig::Sql {
                uri: spec.catalog.uri.clone(),
            },
            CatalogKind::Rest => CatalogConfig::Rest {
                uri: spec.catalog.uri.clone(),
            },
        },
        warehouse: spec.warehouse.clone(),
        namespace: spec.namespace.clone(),
        table: spec.table.clone(),
        target_file_size_bytes: u64::from(spec.target_file_size_mib.max(1)) * 1024 * 1024,
        s3,
    }
}
