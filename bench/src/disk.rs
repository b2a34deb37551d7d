//! Disk accounting for benchmarks that write gigabytes: bytes a directory tree really occupies (hard links —
//! RocksDB checkpoints — counted once) and a guard that stops a run before the shared disk fills up.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sluice_testbed::TestBedError;

/// Sum of the sizes of the regular files under `dir`, each inode counted once (0 if `dir` is missing).
pub fn tree_bytes(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() && seen.insert((meta.dev(), meta.ino())) {
                total += meta.len();
            }
        }
    }
    total
}

/// Bytes available to this user on the filesystem holding `path` (`df`, so no unsafe statvfs call).
pub fn available_bytes(path: &Path) -> Result<u64, TestBedError> {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .map_err(TestBedError::io("running df"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| TestBedError::Env(format!("unexpected df output: {text}")))
}

/// Fails a run once free space on the benchmark's filesystem drops below a floor.
#[derive(Debug, Clone)]
pub struct DiskGuard {
    path: PathBuf,
    min_free: u64,
}

impl DiskGuard {
    pub fn new(path: &Path, min_free_bytes: u64) -> DiskGuard {
        DiskGuard {
            path: path.to_path_buf(),
            min_free: min_free_bytes,
        }
    }

    /// Err when less than the floor is free (what = the phase, for the message).
    pub fn check(&self, what: &str) -> Result<u64, TestBedError> {
        let free = available_bytes(&self.path)?;
        if free < self.min_free {
            return Err(TestBedError::Env(format!(
                "stopping during {what}: only {:.2} GiB free on {} (floor {:.2} GiB); use fewer --cards",
                gib(free),
                self.path.display(),
                gib(self.min_free)
            )));
        }
        Ok(free)
    }
}

pub fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_links_count_once_and_df_answers() {
        let dir = std::env::temp_dir().join(sluice_testbed::unique_name("disk-test"));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a"), vec![0u8; 1000]).unwrap();
        std::fs::hard_link(dir.join("a"), dir.join("sub").join("a")).unwrap();
        std::fs::write(dir.join("sub").join("b"), vec![0u8; 24]).unwrap();
        assert_eq!(tree_bytes(&dir), 1024);
        assert!(available_bytes(&dir).unwrap() > 0);
        assert!(DiskGuard::new(&dir, u64::MAX).check("test").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
