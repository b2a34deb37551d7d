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

/// The `e2e/` source directory (its pom.xml files, Go module and Flink peer).
///
/// Cargo sets `CARGO_MANIFEST_DIR` when it runs a test or binary; prefer that over the value compiled in,
/// because a shared `CARGO_TARGET_DIR` lets a checkout at another path reuse this crate's artifacts, and the
/// compiled-in path would then point into that other (possibly deleted) checkout.
pub fn e2e_source_dir() -> PathBuf {
    let compiled = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) {
        Some(dir) if dir.join("kafka").join("pom.xml").is_file() => dir,
        Some(dir) if dir.join("../e2e/kafka/pom.xml").is_file() => dir.join("../e2e"),
        Some(dir) if dir.join("e2e/kafka/pom.xml").is_file() => dir.join("e2e"),
        _ => compiled,
    }
}
