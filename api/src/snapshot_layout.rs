//! Where snapshot objects live in the checkpoint store, relative to its root:
//!
//! ```text
//! <job>/objects/<sha256>                      checkpoint files, content-addressed and shared (incremental)
//! <job>/checkpoints/<worker>/<chk-id>.json    checkpoint manifests (retained N per worker)
//! <job>/savepoints/<sp-id>/<worker>.json      savepoint manifests, one per worker of the job
//! <job>/savepoints/<sp-id>/files/<sha256>     savepoint files: self-contained, survive checkpoint GC
//! ```

/// Key builder for one job.
#[derive(Clone, Debug)]
pub struct Layout {
    job: String,
}

impl Layout {
    pub fn new(job: &str) -> Layout {
        Layout { job: job.into() }
    }

    pub fn objects_prefix(&self) -> String {
        format!("{}/objects/", self.job)
    }

    pub fn object(&self, sha256: &str) -> String {
        format!("{}/objects/{sha256}", self.job)
    }

    pub fn checkpoints_prefix(&self) -> String {
        format!("{}/checkpoints/", self.job)
    }

    pub fn checkpoint_manifest(&self, worker: &str, id: &str) -> String {
        format!("{}/checkpoints/{worker}/{id}.json", self.job)
    }

    pub fn savepoints_prefix(&self) -> String {
        format!("{}/savepoints/", self.job)
    }

    pub fn savepoint_dir(&self, id: &str) -> String {
        format!("{}/savepoints/{id}", self.job)
    }

    pub fn savepoint_manifest(&self, id: &str, worker: &str) -> String {
        format!("{}/savepoints/{id}/{worker}.json", self.job)
    }

    pub fn savepoint_file(&self, id: &str, sha256: &str) -> String {
        format!("{}/savepoints/{id}/files/{sha256}", self.job)
    }
}

/// True for a manifest key (as opposed to a data file).
pub fn is_manifest(key: &str) -> bool {
    key.ends_with(".json") && !key.contains("/files/")
}

/// A savepoint id: lower-case letters, digits and `-`, 1..=63 characters (it becomes a path segment and an
/// operator status field).
pub fn valid_snapshot_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 63
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_nest_under_the_job() {
        let l = Layout::new("fraud");
        assert_eq!(l.object("ab"), "fraud/objects/ab");
        assert_eq!(
            l.checkpoint_manifest("p1-w0", "chk-1"),
            "fraud/checkpoints/p1-w0/chk-1.json"
        );
        assert_eq!(
            l.savepoint_manifest("sp-1", "p1-w0"),
            "fraud/savepoints/sp-1/p1-w0.json"
        );
        assert!(is_manifest(&l.savepoint_manifest("sp-1", "w")));
        assert!(!is_manifest(&l.savepoint_file("sp-1", "x.json")));
    }

    #[test]
    fn snapshot_ids_are_path_safe() {
        assert!(valid_snapshot_id("sp-upgrade-7"));
        for bad in ["", "../x", "A", "a/b", &"a".repeat(64)] {
            assert!(!valid_snapshot_id(bad), "{bad}");
        }
    }
}
