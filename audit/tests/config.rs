//! Bad configurations are refused before any I/O, naming the field and the fix.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use sluice_audit::{
    AuditError, AuditTable, AuditTableConfig, CatalogConfig, ConfigError, S3Config,
};

fn base() -> AuditTableConfig {
    AuditTableConfig::local("/tmp/catalog.db".as_ref(), "/tmp/warehouse".as_ref())
}

fn s3() -> S3Config {
    S3Config {
        endpoint: Some("http://127.0.0.1:9000".to_string()),
        region: "us-east-1".to_string(),
        path_style: true,
        access_key_id: Some("key".to_string()),
        secret_access_key: Some("secret".to_string()),
        session_token: None,
    }
}

fn field_of(cfg: &AuditTableConfig) -> &'static str {
    let err: ConfigError = cfg.validate().unwrap_err();
    assert!(!err.fix.is_empty());
    err.field
}

#[test]
fn each_bad_field_is_named() {
    assert!(base().validate().is_ok());

    let mut c = base();
    c.warehouse = "/tmp/warehouse".to_string();
    assert_eq!(field_of(&c), "warehouse");
    c.warehouse = "file://relative/dir".to_string();
    assert_eq!(field_of(&c), "warehouse");
    c.warehouse = "s3:///no-bucket".to_string();
    c.s3 = Some(s3());
    assert_eq!(field_of(&c), "warehouse");

    let mut c = base();
    c.namespace = "bad.name".to_string();
    assert_eq!(field_of(&c), "namespace");
    let mut c = base();
    c.table = String::new();
    assert_eq!(field_of(&c), "table");
    let mut c = base();
    c.target_file_size_bytes = 0;
    assert_eq!(field_of(&c), "targetFileSizeBytes");

    let mut c = base();
    c.catalog = CatalogConfig::Sql {
        uri: "postgres://db/iceberg".to_string(),
    };
    assert_eq!(field_of(&c), "catalog.uri");
    c.catalog = CatalogConfig::Rest {
        uri: "catalog:8181".to_string(),
    };
    assert_eq!(field_of(&c), "catalog.uri");

    let mut c = base();
    c.warehouse = "s3://bucket/audit".to_string();
    assert_eq!(field_of(&c), "s3");
    c.s3 = Some(S3Config {
        region: " ".to_string(),
        ..s3()
    });
    assert_eq!(field_of(&c), "s3.region");
    c.s3 = Some(S3Config {
        endpoint: Some("127.0.0.1:9000".to_string()),
        ..s3()
    });
    assert_eq!(field_of(&c), "s3.endpoint");
    c.s3 = Some(S3Config {
        secret_access_key: None,
        ..s3()
    });
    assert_eq!(field_of(&c), "s3.secretAccessKey");
    c.s3 = Some(s3());
    assert!(c.validate().is_ok());

    let mut c = base();
    c.s3 = Some(s3());
    assert_eq!(field_of(&c), "s3");
}

#[test]
fn config_reads_from_camel_case_yaml_like_json() {
    let cfg: AuditTableConfig = serde_json::from_str(
        r#"{"catalog":{"type":"sql","uri":"/data/audit.db"},"warehouse":"s3://b/audit",
            "namespace":"sluice","table":"decisions_audit",
            "s3":{"endpoint":"http://s3:9000","region":"eu-west-1","pathStyle":true}}"#,
    )
    .unwrap();
    assert_eq!(
        cfg.target_file_size_bytes,
        sluice_audit::config::DEFAULT_TARGET_FILE_SIZE_BYTES
    );
    assert!(cfg.s3.as_ref().unwrap().path_style);
    assert!(cfg.validate().is_ok());
}

#[tokio::test]
async fn open_reports_config_errors_and_missing_tables() {
    let mut c = base();
    c.table = "no-dashes".to_string();
    let err = AuditTable::open_or_create(c).await.unwrap_err();
    assert!(matches!(err, AuditError::Config(_)));
    assert!(err.to_string().contains("table:"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let c = AuditTableConfig::local(&dir.path().join("c.db"), &dir.path().join("w"));
    let err = AuditTable::open(c).await.unwrap_err();
    assert!(matches!(err, AuditError::NoSuchTable { .. }), "{err}");
}
