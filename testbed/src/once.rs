//! `create_once`: the one way the test bed makes a cached thing (Kafka's jars, the S3 server, the Kubernetes
//! binaries, the Flink peer's jar) that several test binaries or processes may ask for at the same time on an
//! empty cache. It is the Rust twin of `scripts/create-once.sh` and uses the same layout, so a script and a
//! test binary building the same thing exclude each other too.
//!
//! `dest` is complete when `dest/.sluice-complete` holds `key` (the pinned versions, a source hash). Otherwise
//! the caller takes an exclusive lock on `dest.lock`, looks again (another process may have finished while it
//! waited), and builds into an empty staging directory beside `dest`. Only a build that succeeds is stamped
//! and renamed to `dest`, so a half-made `dest` is never visible; a killed build leaves a `dest.partial.*`
//! directory, which the next builder removes while it holds the lock.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::TestBedError;

/// The stamp file inside a finished directory; its content is the key it was built for.
pub const STAMP: &str = ".sluice-complete";

/// True when `dest` was finished for `key`.
pub fn is_complete(dest: &Path, key: &str) -> bool {
    std::fs::read_to_string(dest.join(STAMP)).is_ok_and(|stamp| stamp.trim_end() == key)
}

/// Makes `dest` with `build(staging)` unless it is complete for `key`; see the module docs.
pub fn create_once<F>(dest: &Path, key: &str, build: F) -> Result<PathBuf, TestBedError>
where
    F: FnOnce(&Path) -> Result<(), TestBedError>,
{
    if is_complete(dest, key) {
        return Ok(dest.to_path_buf());
    }
    let parent = dest
        .parent()
        .ok_or_else(|| TestBedError::Env(format!("{} has no parent directory", dest.display())))?;
    std::fs::create_dir_all(parent)
        .map_err(TestBedError::io(format!("creating {}", parent.display())))?;
    // The lock is released when `_lock` is dropped (or the process dies), whatever happens below.
    let _lock = lock(&sibling(dest, ".lock"))?;
    if is_complete(dest, key) {
        return Ok(dest.to_path_buf());
    }
    remove_stale_partials(dest)?;
    eprintln!("create_once: making {} (once)", dest.display());
    let staging = sibling(dest, &format!(".partial.{}", std::process::id()));
    std::fs::create_dir_all(&staging)
        .map_err(TestBedError::io(format!("creating {}", staging.display())))?;
    if let Err(e) = build(&staging) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    std::fs::write(staging.join(STAMP), format!("{key}\n"))
        .map_err(TestBedError::io(format!("stamping {}", staging.display())))?;
    // An outdated `dest` (another key, or a build from before the stamp existed) is replaced whole.
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(TestBedError::io(format!(
            "removing outdated {}",
            dest.display()
        )))?;
    }
    std::fs::rename(&staging, dest).map_err(TestBedError::io(format!(
        "renaming the build to {}",
        dest.display()
    )))?;
    Ok(dest.to_path_buf())
}

/// `dest` with `suffix` appended to its file name (`kube-v1.34.4/bin` + `.lock` = `kube-v1.34.4/bin.lock`).
fn sibling(dest: &Path, suffix: &str) -> PathBuf {
    let mut name = dest.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn lock(path: &Path) -> Result<File, TestBedError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(TestBedError::io(format!("opening {}", path.display())))?;
    file.lock()
        .map_err(TestBedError::io(format!("locking {}", path.display())))?;
    Ok(file)
}

/// Removes what killed builders left behind. Only called with the lock held, so no builder is running.
fn remove_stale_partials(dest: &Path) -> Result<(), TestBedError> {
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Ok(());
    };
    let prefix = format!("{}.partial.", name.to_string_lossy());
    let entries = std::fs::read_dir(parent)
        .map_err(TestBedError::io(format!("listing {}", parent.display())))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let path = entry.path();
            std::fs::remove_dir_all(&path)
                .map_err(TestBedError::io(format!("removing {}", path.display())))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A slow build that writes its files one by one, so a reader that could see a half-made result would.
    fn slow_build(staging: &Path, builds: &AtomicUsize) -> Result<(), TestBedError> {
        builds.fetch_add(1, Ordering::SeqCst);
        for i in 0..5 {
            std::thread::sleep(Duration::from_millis(20));
            std::fs::write(staging.join(format!("part-{i}")), b"x")
                .map_err(TestBedError::io("write"))?;
        }
        Ok(())
    }

    #[test]
    fn parallel_callers_on_an_empty_cache_get_one_whole_build() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("cache").join("thing");
        let builds = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| create_once(&dest, "v1", |st| slow_build(st, &builds))))
                .collect();
            for h in handles {
                let got = h.join().unwrap().unwrap();
                // Whoever returns sees the whole result, never a part of it.
                assert_eq!(
                    std::fs::read_dir(&got).unwrap().count(),
                    6,
                    "5 parts + the stamp"
                );
            }
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        let left: Vec<_> = std::fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            left.iter().all(|n| n == "thing" || n == "thing.lock"),
            "{left:?}"
        );
    }

    #[test]
    fn a_failed_build_leaves_nothing_and_the_next_caller_builds_again() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("thing");
        let failed = create_once(&dest, "v1", |st| {
            std::fs::write(st.join("half"), b"x").unwrap();
            Err(TestBedError::Env("boom".into()))
        });
        assert!(failed.is_err());
        assert!(!dest.exists());
        let builds = AtomicUsize::new(0);
        create_once(&dest, "v1", |st| slow_build(st, &builds)).unwrap();
        assert!(is_complete(&dest, "v1") && !dest.join("half").exists());
    }

    #[test]
    fn a_new_key_or_a_killed_builder_leftover_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("thing");
        std::fs::create_dir_all(sibling(&dest, ".partial.999999")).unwrap();
        create_once(&dest, "v1", |st| {
            std::fs::write(st.join("old"), b"1").map_err(TestBedError::io("w"))
        })
        .unwrap();
        assert!(!sibling(&dest, ".partial.999999").exists());
        create_once(&dest, "v2", |st| {
            std::fs::write(st.join("new"), b"2").map_err(TestBedError::io("w"))
        })
        .unwrap();
        assert!(dest.join("new").exists() && !dest.join("old").exists());
        assert!(is_complete(&dest, "v2") && !is_complete(&dest, "v1"));
    }
}
