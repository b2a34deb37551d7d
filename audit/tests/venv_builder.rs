//! The venv builder `sluice audit compact` depends on (audit/compact/venv.sh, through
//! scripts/python-venv.sh), run from several threads at once on an empty directory, as parallel tests
//! and two compactions starting together do on a fresh machine. Each caller must get the same, whole
//! venv: before the builder took a lock and renamed a finished staging directory into place, each
//! caller deleted and rebuilt the venv, and one pip install failed on files another had removed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run_builder(venv: &Path) -> Output {
    let script = common::crate_dir().join("compact/venv.sh");
    Command::new("bash")
        .arg(script)
        .env("SLUICE_PYICEBERG_COMPACT_VENV", venv)
        .output()
        .expect("run audit/compact/venv.sh")
}

#[test]
fn parallel_builders_on_an_empty_directory_share_one_whole_venv() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("compact-venv");
    let outputs: Vec<Output> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| run_builder(&venv))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let python = venv.join("bin/python");
    for out in &outputs {
        assert!(
            out.status.success(),
            "venv.sh failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout);
        let last = printed.lines().last().unwrap_or_default().trim();
        assert_eq!(
            PathBuf::from(last),
            python,
            "every caller is pointed at the one venv"
        );
    }
    // Exactly one caller built it; the others waited on the lock and found it finished.
    let builders = outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("making"))
        .count();
    assert_eq!(builders, 1, "one build for four callers");
    // The venv works after the rename from its staging directory: everything compact.py imports loads.
    let check = Command::new(&python)
        .args([
            "-c",
            "import pyiceberg, pyarrow, sqlalchemy, pyiceberg_core",
        ])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Nothing half-made is left beside it; only the venv and its lock file.
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["compact-venv", "compact-venv.lock"]);
    // A later caller reuses it at once (no rebuild: the stamp is found without the lock).
    let again = run_builder(&venv);
    assert!(again.status.success());
    assert!(
        again.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
