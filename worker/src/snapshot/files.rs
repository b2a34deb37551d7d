//! Local snapshot files: listing a RocksDB checkpoint directory and hashing its files (SHA-256, cached by
//! name and size because SST files are immutable once written).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::SnapshotError;

/// A file of a local checkpoint with its content hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalFile {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

/// Hashes of immutable files already computed by this process, keyed by (partition, file name, size).
#[derive(Default)]
pub struct HashCache {
    known: HashMap<(i32, String, u64), String>,
}

impl HashCache {
    /// Lists and hashes every file of `dir` (a RocksDB checkpoint of `partition`).
    pub fn files_of(
        &mut self,
        partition: i32,
        dir: &Path,
    ) -> Result<Vec<LocalFile>, SnapshotError> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| SnapshotError::local(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| SnapshotError::local(dir, e))?;
            let path = entry.path();
            let meta = entry
                .metadata()
                .map_err(|e| SnapshotError::local(&path, e))?;
            if !meta.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let size = meta.len();
            // Only SSTs are immutable; MANIFEST/OPTIONS/CURRENT are rewritten, so always hash them.
            let immutable = name.ends_with(".sst");
            let cache_key = (partition, name.clone(), size);
            let sha256 = match self.known.get(&cache_key) {
                Some(h) if immutable => h.clone(),
                _ => {
                    let h = sha256_file(&path)?;
                    if immutable {
                        self.known.insert(cache_key, h.clone());
                    }
                    h
                }
            };
            out.push(LocalFile {
                name,
                path,
                size,
                sha256,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// Lower-case hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, SnapshotError> {
    let mut file = std::fs::File::open(path).map_err(|e| SnapshotError::local(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| SnapshotError::local(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_a_known_vector_and_are_cached_for_ssts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("000001.sst"), b"abc").unwrap();
        std::fs::write(dir.path().join("CURRENT"), b"MANIFEST-1\n").unwrap();
        let mut cache = HashCache::default();
        let files = cache.files_of(0, dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].name, "000001.sst");
        assert_eq!(
            files[0].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(cache.known.len(), 1, "only the SST is cached");
    }
}
