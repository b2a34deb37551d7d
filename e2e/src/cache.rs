//! Where the test bed keeps what it downloads, builds and runs.

use std::path::PathBuf;

/// `$SLUICE_CACHE_DIR`, else `$HOME/.cache/sluice`. CI caches this directory between runs.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("SLUICE_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache").join("sluice")
}

/// Scratch space for running services: one sub-directory per service instance.
pub fn run_root() -> PathBuf {
    cache_root().join("run")
}
