//! Where a measurement came from: the commit it measured, whether the tree had uncommitted changes, and
//! the exact command line (which, with the defaults at that commit, is the whole configuration). Every
//! benchmark result and reliability row carries one, so a figure in the docs can be traced to its code.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// `git rev-parse HEAD` of the checkout the command ran in ("unknown" outside a git checkout).
    pub commit: String,
    /// True when tracked files differed from that commit: the figure then measured code no commit holds.
    pub dirty: bool,
    /// The program and its arguments.
    pub command: Vec<String>,
}

impl Provenance {
    /// The provenance of this process, for the git checkout containing the working directory.
    pub fn of_this_run() -> Provenance {
        let dir = std::env::current_dir().unwrap_or_default();
        Provenance {
            command: std::env::args().collect(),
            ..Provenance::of_checkout(&dir)
        }
    }

    /// The commit and cleanliness of the git checkout at `dir` (no command line).
    pub fn of_checkout(dir: &Path) -> Provenance {
        let git = |args: &[&str]| {
            Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(args)
                .output()
                .ok()
                .filter(|out| out.status.success())
                .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        match git(&["rev-parse", "HEAD"]) {
            Some(commit) => Provenance {
                commit,
                dirty: git(&["status", "--porcelain", "--untracked-files=no"])
                    .is_none_or(|changes| !changes.is_empty()),
                command: Vec::new(),
            },
            None => Provenance {
                commit: "unknown".to_string(),
                dirty: true,
                command: Vec::new(),
            },
        }
    }
}

/// The machine a measurement ran on: its core count and CPU model (`/proc/cpuinfo`).
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .status()
            .unwrap();
        assert!(ok.success(), "git {args:?}");
    }

    #[test]
    fn a_clean_checkout_names_its_commit_and_an_edit_makes_it_dirty() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q"]);
        std::fs::write(d.join("f"), "1").unwrap();
        git(d, &["add", "f"]);
        let who = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"];
        git(d, &[&who[..], &["commit", "-qm", "one"]].concat());
        let clean = Provenance::of_checkout(d);
        assert_eq!(clean.commit.len(), 40, "{clean:?}");
        assert!(!clean.dirty);

        std::fs::write(d.join("f"), "2").unwrap();
        let edited = Provenance::of_checkout(d);
        assert_eq!(edited.commit, clean.commit);
        assert!(edited.dirty);
    }

    #[test]
    fn outside_a_checkout_the_commit_is_unknown_and_counts_as_dirty() {
        let dir = tempfile::tempdir().unwrap();
        let p = Provenance::of_checkout(dir.path());
        assert_eq!((p.commit.as_str(), p.dirty), ("unknown", true));
    }
}
