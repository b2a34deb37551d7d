//! The durable store of checkpoints and savepoints: S3 (any S3-compatible server) or a local directory, behind one small async
//! interface. Keys are `/`-separated and relative to the store root (`s3://bucket/prefix` or `file:///dir`).

mod credentials;
mod file;
mod s3;

use std::path::Path;

use sluice_api::job_config::S3Options;
use sluice_api::store_uri::{StoreUri, StoreUriError};

pub use credentials::S3Credentials;
pub use file::FileStore;
pub use s3::{S3Store, https_client};

/// Why a store operation failed. Transient failures (network, 5xx) and permanent ones both surface here; the
/// checkpoint coordinator retries with backoff and counts consecutive failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("checkpoint store URI {uri:?}: {reason}")]
    BadUri { uri: String, reason: String },
    #[error("{op} {key}: {reason}")]
    Remote {
        op: &'static str,
        key: String,
        reason: String,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("object {key} not found")]
    NotFound { key: String },
}

/// One object in a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Last modification, ms since the epoch (for the GC grace period), when the store reports it.
    pub modified_ms: Option<i64>,
}

/// A checkpoint store.
#[derive(Clone, Debug)]
pub enum ObjectStore {
    S3(S3Store),
    File(FileStore),
}

impl ObjectStore {
    /// Opens the store named by `uri` (`s3://bucket[/prefix]` or `file:///dir`), with S3 credentials from
    /// the SDK's standard chain.
    pub async fn open(uri: &str, s3: &S3Options) -> Result<ObjectStore, StoreError> {
        let parsed: StoreUri = uri.parse().map_err(|e: StoreUriError| StoreError::BadUri {
            uri: uri.into(),
            reason: e.to_string(),
        })?;
        Ok(ObjectStore::connect(&parsed, s3, None).await)
    }

    /// The store at an already parsed `uri`, with static S3 credentials when given (else the SDK's chain).
    pub async fn connect(
        uri: &StoreUri,
        s3: &S3Options,
        credentials: Option<&S3Credentials>,
    ) -> ObjectStore {
        match uri {
            StoreUri::S3 { bucket, prefix } => {
                ObjectStore::S3(S3Store::connect(bucket, prefix, s3, credentials).await)
            }
            StoreUri::File { dir } => ObjectStore::File(FileStore::new(dir)),
        }
    }

    /// The URI of `key`, for status and logs.
    pub fn uri_of(&self, key: &str) -> String {
        match self {
            ObjectStore::S3(s) => s.uri_of(key),
            ObjectStore::File(f) => f.uri_of(key),
        }
    }

    /// Resolves a URI inside this store back to a key (e.g. a savepoint location); None if it points elsewhere.
    pub fn key_of(&self, uri: &str) -> Option<String> {
        let root = self.uri_of("");
        uri.strip_prefix(root.trim_end_matches('/'))
            .map(|k| k.trim_matches('/').to_string())
    }

    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        match self {
            ObjectStore::S3(s) => s.put_bytes(key, bytes).await,
            ObjectStore::File(f) => f.put_bytes(key, &bytes).await,
        }
    }

    /// Uploads a local file (multipart when large). Returns the bytes sent.
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        match self {
            ObjectStore::S3(s) => s.put_file(key, path).await,
            ObjectStore::File(f) => f.put_file(key, path).await,
        }
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        match self {
            ObjectStore::S3(s) => s.get_bytes(key).await,
            ObjectStore::File(f) => f.get_bytes(key).await,
        }
    }

    /// Downloads `key` to `path` (written through a temporary file and renamed). Returns the bytes received.
    pub async fn download(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        match self {
            ObjectStore::S3(s) => s.download(key, path).await,
            ObjectStore::File(f) => f.download(key, path).await,
        }
    }

    /// Every object under `prefix`, sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut out = match self {
            ObjectStore::S3(s) => s.list(prefix).await?,
            ObjectStore::File(f) => f.list(prefix).await?,
        };
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Deletes `key`; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            ObjectStore::S3(s) => s.delete(key).await,
            ObjectStore::File(f) => f.delete(key).await,
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}
