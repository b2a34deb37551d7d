//! A checkpoint store in a local directory (`file:///dir`): local mode and tests without S3. Writes go through a
//! temporary file and a rename so a reader never sees half an object.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::{ObjectInfo, StoreError, io_err};

#[derive(Clone, Debug)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    pub fn new(root: &Path) -> FileStore {
        FileStore {
            root: root.to_path_buf(),
        }
    }

    pub fn uri_of(&self, key: &str) -> String {
        format!("file://{}/{key}", self.root.display())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub async fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path(key);
        let tmp = tmp_path(&path);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(io_err("creating", dir))?;
        }
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(io_err("writing", &tmp))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(io_err("renaming", &path))
    }

    pub async fn put_file(&self, key: &str, src: &Path) -> Result<u64, StoreError> {
        let path = self.path(key);
        let tmp = tmp_path(&path);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(io_err("creating", dir))?;
        }
        let n = tokio::fs::copy(src, &tmp)
            .await
            .map_err(io_err("copying", src))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(io_err("renaming", &path))?;
        Ok(n)
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key);
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound { key: key.into() })
            }
            Err(e) => Err(io_err("reading", &path)(e)),
        }
    }

    pub async fn download(&self, key: &str, dst: &Path) -> Result<u64, StoreError> {
        let src = self.path(key);
        if !tokio::fs::try_exists(&src).await.unwrap_or(false) {
            return Err(StoreError::NotFound { key: key.into() });
        }
        let tmp = tmp_path(dst);
        let n = tokio::fs::copy(&src, &tmp)
            .await
            .map_err(io_err("copying", &src))?;
        tokio::fs::rename(&tmp, dst)
            .await
            .map_err(io_err("renaming", dst))?;
        Ok(n)
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        let walk = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk_dir(&root, &root, &prefix, &mut out)?;
            Ok::<_, StoreError>(out)
        });
        walk.await.map_err(|e| StoreError::Remote {
            op: "listing",
            key: self.root.display().to_string(),
            reason: e.to_string(),
        })?
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("deleting", &path)(e)),
        }
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

fn walk_dir(
    root: &Path,
    dir: &Path,
    prefix: &str,
    out: &mut Vec<ObjectInfo>,
) -> Result<(), StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("listing", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("listing", dir))?;
        let path = entry.path();
        let meta = entry.metadata().map_err(io_err("stat", &path))?;
        if meta.is_dir() {
            walk_dir(root, &path, prefix, out)?;
            continue;
        }
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let key = rel.to_string_lossy().replace('\\', "/");
        if key.contains(".tmp-") || !key.starts_with(prefix) {
            continue;
        }
        let modified_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok());
        out.push(ObjectInfo {
            key,
            size: meta.len(),
            modified_ms,
        });
    }
    Ok(())
}
