//! The audit table on a real S3 server: `s3s-fs` (the test bed's S3 server, installed by
//! `sluice-testbed install` into the cache), with the SQLite catalog in a temp dir. A private
//! server is started so the bucket can be made as a directory (no S3 client dependency here).
//! Fails, never skips, when the binary is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{decision, decisions};
use sluice_audit::{AsOf, AuditTable, AuditTableConfig, CatalogConfig, Offsets, S3Config};

/// The same pinned release and test credentials as sluice-testbed's test bed.
const S3S_FS_VERSION: &str = "0.14.1";
const ACCESS_KEY: &str = "sluice-test";
const SECRET_KEY: &str = "sluice-test-secret";
const BUCKET: &str = "audit-test";

fn s3s_fs_bin() -> PathBuf {
    let cache = std::env::var_os("SLUICE_CACHE_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/sluice"),
        PathBuf::from,
    );
    cache.join(format!("s3s-fs-{S3S_FS_VERSION}/bin/s3s-fs"))
}

/// A private s3s-fs over `data`, killed when dropped.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl S3Server {
    fn start(data: &Path) -> S3Server {
        let bin = s3s_fs_bin();
        assert!(
            bin.exists(),
            "{} is missing: run `cargo run -p sluice-testbed --bin sluice-testbed -- install`",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parquet_files(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            n += parquet_files(&path);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn appends_and_reads_on_s3() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("s3-data");
    // s3s-fs serves each top-level directory as a bucket.
    std::fs::create_dir_all(data.join(BUCKET)).unwrap();
    let server = S3Server::start(&data);

    let cfg = AuditTableConfig {
        catalog: CatalogConfig::Sql {
            uri: dir.path().join("catalog.db").display().to_string(),
        },
        warehouse: format!("s3://{BUCKET}/warehouse"),
        namespace: "sluice".to_string(),
        table: "decisions_audit".to_string(),
        target_file_size_bytes: sluice_audit::config::DEFAULT_TARGET_FILE_SIZE_BYTES,
        s3: Some(S3Config {
            endpoint: Some(server.endpoint.clone()),
            region: "us-east-1".to_string(),
            path_style: true,
            access_key_id: Some(ACCESS_KEY.to_string()),
            secret_access_key: Some(SECRET_KEY.to_string()),
            session_token: None,
        }),
    };
    let table = AuditTable::open_or_create(cfg.clone()).await.unwrap();
    let first = table
        .append(&decisions(0, 0..20), &Offsets::from([(0, 20)]))
        .await
        .unwrap()
        .unwrap();
    table
        .append(&decisions(1, 0..10), &Offsets::from([(1, 10)]))
        .await
        .unwrap()
        .unwrap();

    // The data really went through the S3 server into its bucket directory.
    let table_dir = data.join(BUCKET).join("warehouse/sluice/decisions_audit");
    assert!(
        parquet_files(&table_dir.join("data")) >= 3,
        "{}",
        table_dir.display()
    );
    assert!(table_dir.join("metadata").is_dir());

    let reopened = AuditTable::open(cfg).await.unwrap();
    assert_eq!(
        reopened.committed_offsets().await.unwrap(),
        Offsets::from([(0, 20), (1, 10)])
    );
    assert_eq!(reopened.row_count(AsOf::Current).await.unwrap(), 30);
    let d = decision(1, 7);
    assert_eq!(
        reopened.find_txn(&d.txn_id, AsOf::Current).await.unwrap(),
        Some(d.clone())
    );
    let s1 = AsOf::SnapshotId(first.snapshot_id);
    assert_eq!(reopened.find_txn(&d.txn_id, s1).await.unwrap(), None);
    assert_eq!(reopened.row_count(s1).await.unwrap(), 20);
}
