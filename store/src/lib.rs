//! The durable store of checkpoints and savepoints: S3 (any S3-compatible server) or a local directory, behind one small async
//! interface. Keys are `/`-separated and relative to the store root (`s3://bucket/prefix` or `file:///dir`).

pub mod credential_files;
mod credentials;
mod file;
pub mod keys;
mod s3;
pub mod sealed;

use std::path::Path;
use std::sync::Arc;

use sluice_api::job_config::S3Options;
use sluice_api::store_uri::{StoreUri, StoreUriError};

pub use credentials::S3Credentials;
pub use file::FileStore;
pub use s3::{S3Store, https_client};
pub use sealed::{Keyring, SealError};

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
    #[error(transparent)]
    Sealed(#[from] SealError),
}

/// One object in a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Last modification, ms since the epoch (for the GC grace period), when the store reports it.
    pub modified_ms: Option<i64>,
}

/// A checkpoint store, sealing what it writes when it has a [`Keyring`] (see [`sealed`]).
#[derive(Clone, Debug)]
pub struct ObjectStore {
    backend: Backend,
    keyring: Option<Arc<Keyring>>,
}

#[derive(Clone, Debug)]
enum Backend {
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
        let backend = match uri {
            StoreUri::S3 { bucket, prefix } => {
                Backend::S3(S3Store::connect(bucket, prefix, s3, credentials).await)
            }
            StoreUri::File { dir } => Backend::File(FileStore::new(dir)),
        };
        ObjectStore {
            backend,
            keyring: None,
        }
    }

    /// Seals every object written from now on with `keyring`'s current key and opens sealed objects with
    /// its keys. Without a keyring, objects are written in plain and a sealed one is refused when read.
    pub fn with_keyring(mut self, keyring: Option<Keyring>) -> ObjectStore {
        self.keyring = keyring.map(Arc::new);
        self
    }

    /// The key new objects are sealed with, if any (recorded in manifests).
    pub fn sealing_key_id(&self) -> Option<&str> {
        self.keyring.as_deref().map(Keyring::current_key_id)
    }

    /// The URI of `key`, for status and logs.
    pub fn uri_of(&self, key: &str) -> String {
        match &self.backend {
            Backend::S3(s) => s.uri_of(key),
            Backend::File(f) => f.uri_of(key),
        }
    }

    /// Resolves a URI inside this store back to a key (e.g. a savepoint location); None if it points elsewhere.
    pub fn key_of(&self, uri: &str) -> Option<String> {
        let root = self.uri_of("");
        uri.strip_prefix(root.trim_end_matches('/'))
            .map(|k| k.trim_matches('/').to_string())
    }

    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let bytes = match &self.keyring {
            Some(k) => k.seal(&bytes),
            None => bytes,
        };
        match &self.backend {
            Backend::S3(s) => s.put_bytes(key, bytes).await,
            Backend::File(f) => f.put_bytes(key, &bytes).await,
        }
    }

    /// Uploads a local file (multipart when large; sealed through a temporary file beside it when the
    /// store has a keyring). Returns the bytes sent.
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        let Some(keyring) = self.keyring.clone() else {
            return self.put_plain_file(key, path).await;
        };
        let src = path.to_path_buf();
        let sealed = blocking(move || {
            let dir = src.parent().unwrap_or(Path::new("."));
            let tmp =
                tempfile::NamedTempFile::new_in(dir).map_err(io_err("creating a file in", dir))?;
            keyring.seal_file(&src, tmp.path())?;
            Ok(tmp)
        })
        .await?;
        self.put_plain_file(key, sealed.path()).await
    }

    async fn put_plain_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::S3(s) => s.put_file(key, path).await,
            Backend::File(f) => f.put_file(key, path).await,
        }
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let bytes = match &self.backend {
            Backend::S3(s) => s.get_bytes(key).await?,
            Backend::File(f) => f.get_bytes(key).await?,
        };
        let object = self.uri_of(key);
        match &self.keyring {
            Some(k) => Ok(k.open(&object, &bytes)?),
            None => {
                sealed::refuse_sealed(&object, &bytes)?;
                Ok(bytes)
            }
        }
    }

    /// Downloads `key` to `path` (written through a temporary file and renamed; opened through a second
    /// one when the store has a keyring). Returns the bytes written to `path` (for a sealed object, its
    /// plaintext: what a manifest's sizes count).
    pub async fn download(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        let object = self.uri_of(key);
        let Some(keyring) = self.keyring.clone() else {
            let n = self.download_plain(key, path).await?;
            let head = read_head(path).await?;
            sealed::refuse_sealed(&object, &head)?;
            return Ok(n);
        };
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let fetched =
            tempfile::NamedTempFile::new_in(&dir).map_err(io_err("creating a file in", &dir))?;
        self.download_plain(key, fetched.path()).await?;
        let dst = path.to_path_buf();
        blocking(move || {
            let opened = tempfile::NamedTempFile::new_in(&dir)
                .map_err(io_err("creating a file in", &dir))?;
            keyring.open_file(&object, fetched.path(), opened.path())?;
            let len = std::fs::metadata(opened.path())
                .map_err(io_err("stat", opened.path()))?
                .len();
            opened
                .persist(&dst)
                .map_err(|e| io_err("renaming into", &dst)(e.error))?;
            Ok(len)
        })
        .await
    }

    async fn download_plain(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::S3(s) => s.download(key, path).await,
            Backend::File(f) => f.download(key, path).await,
        }
    }

    /// Every object under `prefix`, sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut out = match &self.backend {
            Backend::S3(s) => s.list(prefix).await?,
            Backend::File(f) => f.list(prefix).await?,
        };
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Deletes `key`; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::S3(s) => s.delete(key).await,
            Backend::File(f) => f.delete(key).await,
        }
    }
}

/// Runs CPU-bound sealing off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Remote {
            op: "sealing",
            key: String::new(),
            reason: e.to_string(),
        })?
}

/// The first bytes of a downloaded file: enough to tell a sealed object by its header.
async fn read_head(path: &Path) -> Result<Vec<u8>, StoreError> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(io_err("opening", path))?;
    let mut head = Vec::with_capacity(80);
    file.take(80)
        .read_to_end(&mut head)
        .await
        .map_err(io_err("reading", path))?;
    Ok(head)
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}
