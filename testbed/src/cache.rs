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

/// The repository's root: the workspace holding `testbed/` (its pom.xml files and Go modules), `bench/` (the
/// Flink peer, the plots) and `charts/`.
///
/// Cargo sets `CARGO_MANIFEST_DIR` (some crate's directory) when it runs a test or binary; prefer that over the
/// value compiled in, because a shared `CARGO_TARGET_DIR` lets a checkout at another path reuse this crate's
/// artifacts, and the compiled-in path would then point into that other (possibly deleted) checkout.
pub fn repo_root() -> PathBuf {
    let compiled = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let is_root = |dir: &PathBuf| dir.join("testbed").join("kafka").join("pom.xml").is_file();
    let from_env = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    from_env
        .into_iter()
        .flat_map(|dir| [dir.clone(), dir.join("..")])
        .find(is_root)
        .unwrap_or(compiled)
}

/// The test bed's source directory, `testbed/`: the Kafka and Go module manifests, the chart checks.
pub fn testbed_dir() -> PathBuf {
    repo_root().join("testbed")
}
