//! `commits.log`: the local analogue of a Kafka transaction's commit marker. One JSON line per commit, appended
//! and fsynced after the commit's data files are durable. A commit exists if and only if its line is complete
//! in this file; data files not named by a complete line are leftovers of a crash and are deleted on start.
//!
//! A crash can leave at most the last line torn (no trailing newline). It is ignored and truncated away before
//! anything new is appended, so the next commit does not get glued onto garbage.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{LocalError, io_err};

/// File name of the log inside the output directory.
pub const COMMIT_LOG: &str = "commits.log";

/// Input offsets of one partition after a commit: next offset to read per source topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartitionOffsets {
    pub partition: i32,
    pub authorizations: i64,
    pub device_telemetry: i64,
    pub account_changes: i64,
}

impl PartitionOffsets {
    pub fn new(partition: i32, next: [i64; 3]) -> PartitionOffsets {
        let [authorizations, device_telemetry, account_changes] = next;
        PartitionOffsets {
            partition,
            authorizations,
            device_telemetry,
            account_changes,
        }
    }

    /// Indexed by `SourceTopic::index`, like every offset array in the runtime.
    pub fn as_array(&self) -> [i64; 3] {
        [
            self.authorizations,
            self.device_telemetry,
            self.account_changes,
        ]
    }
}

/// Input records and outputs, by kind (decisions also by outcome).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputCounts {
    /// Input records consumed.
    pub records: u64,
    pub decisions: u64,
    pub approve: u64,
    pub review: u64,
    pub decline: u64,
    pub alerts: u64,
    pub dlq: u64,
    pub late: u64,
}

impl OutputCounts {
    pub fn add(&mut self, o: &OutputCounts) {
        self.records += o.records;
        self.decisions += o.decisions;
        self.approve += o.approve;
        self.review += o.review;
        self.decline += o.decline;
        self.alerts += o.alerts;
        self.dlq += o.dlq;
        self.late += o.late;
    }
}

/// One committed line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommitEntry {
    /// 1, 2, 3, … with no gaps; names the commit's data files.
    pub seq: u64,
    /// Every partition's next input offsets once this commit's input is included.
    pub offsets: Vec<PartitionOffsets>,
    /// Data files of this commit, relative to the output directory (`decisions/<seq>.jsonl`, …).
    pub files: Vec<String>,
    /// What this commit added.
    pub counts: OutputCounts,
    /// Everything committed up to and including this commit. `totals.records` is the length of the generator
    /// prefix the committed output covers.
    pub totals: OutputCounts,
}

/// The open log, positioned after its last complete line.
pub struct CommitLog {
    path: PathBuf,
    file: File,
    last: Option<CommitEntry>,
    files: BTreeSet<String>,
}

/// Fsyncs a directory so renames and creations inside it survive a power loss.
pub fn sync_dir(dir: &Path) -> Result<(), LocalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing directory", dir))
}

impl CommitLog {
    /// Opens (creating if needed) the log in `dir`: reads every complete line, truncates a torn last line.
    pub fn open(dir: &Path) -> Result<CommitLog, LocalError> {
        let path = dir.join(COMMIT_LOG);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        let (entries, complete_len) = parse_log(&path, &bytes)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err("opening", &path))?;
        if complete_len < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                torn_bytes = bytes.len() - complete_len,
                "ignoring a torn last commit line (crash during a commit); it was never committed"
            );
            let len = u64::try_from(complete_len).unwrap_or(u64::MAX);
            file.set_len(len)
                .map_err(io_err("truncating the torn tail of", &path))?;
            file.sync_all().map_err(io_err("syncing", &path))?;
        }
        sync_dir(dir)?;
        let files = entries
            .iter()
            .flat_map(|e| e.files.iter().cloned())
            .collect();
        Ok(CommitLog {
            path,
            file,
            last: entries.into_iter().last(),
            files,
        })
    }

    /// The newest commit, `None` when nothing was ever committed.
    pub fn last(&self) -> Option<&CommitEntry> {
        self.last.as_ref()
    }

    /// Every data file named by a commit (relative to the output directory).
    pub fn committed_files(&self) -> &BTreeSet<String> {
        &self.files
    }

    /// Appends `entry` and fsyncs: when this returns, the commit is durable. `entry.seq` must follow `last()`.
    pub fn append(&mut self, entry: CommitEntry) -> Result<(), LocalError> {
        let expected = self.last.as_ref().map_or(1, |l| l.seq + 1);
        if entry.seq != expected {
            return Err(LocalError::CorruptCommitLog {
                path: self.path.clone(),
                line: expected,
                reason: format!(
                    "tried to append commit {} after commit {}",
                    entry.seq,
                    expected - 1
                ),
            });
        }
        let mut line = serde_json::to_vec(&entry).map_err(LocalError::Encode)?;
        line.push(b'\n');
        // One write call: a crash leaves a prefix of the line at worst, never a line followed by garbage.
        self.file
            .write_all(&line)
            .map_err(io_err("appending to", &self.path))?;
        self.file
            .sync_data()
            .map_err(io_err("syncing", &self.path))?;
        self.files.extend(entry.files.iter().cloned());
        self.last = Some(entry);
        Ok(())
    }
}

/// Complete entries and the byte length they span. Only the last line may be torn (no newline); a complete line
/// that does not parse, or a gap in `seq`, means the log was damaged by something other than a crash.
fn parse_log(path: &Path, bytes: &[u8]) -> Result<(Vec<CommitEntry>, usize), LocalError> {
    let mut entries: Vec<CommitEntry> = Vec::new();
    let mut complete = 0usize;
    let mut line_no = 0u64;
    while let Some(nl) = bytes
        .get(complete..)
        .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
    {
        line_no += 1;
        let line = bytes.get(complete..complete + nl).unwrap_or_default();
        let corrupt = |reason: String| LocalError::CorruptCommitLog {
            path: path.to_path_buf(),
            line: line_no,
            reason,
        };
        let entry: CommitEntry =
            serde_json::from_slice(line).map_err(|e| corrupt(e.to_string()))?;
        let expected = entries.last().map_or(1, |l| l.seq + 1);
        if entry.seq != expected {
            return Err(corrupt(format!(
                "commit {} where commit {expected} was expected",
                entry.seq
            )));
        }
        entries.push(entry);
        complete += nl + 1;
    }
    Ok((entries, complete))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> CommitEntry {
        CommitEntry {
            seq,
            offsets: vec![PartitionOffsets::new(0, [seq as i64, 1, 2])],
            files: vec![format!("decisions/{seq:020}.jsonl")],
            counts: OutputCounts::default(),
            totals: OutputCounts::default(),
        }
    }

    #[test]
    fn torn_tail_is_ignored_and_truncated_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = CommitLog::open(dir.path()).unwrap();
        assert!(log.last().is_none());
        log.append(entry(1)).unwrap();
        log.append(entry(2)).unwrap();
        drop(log);
        let path = dir.path().join(COMMIT_LOG);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"seq":3,"offsets":[{"parti"#).unwrap();
        drop(f);

        let mut log = CommitLog::open(dir.path()).unwrap();
        assert_eq!(log.last().unwrap().seq, 2);
        assert_eq!(log.committed_files().len(), 2);
        log.append(entry(3)).unwrap();
        drop(log);
        let log = CommitLog::open(dir.path()).unwrap();
        assert_eq!(log.last(), Some(&entry(3)));
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }

    #[test]
    fn a_damaged_complete_line_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = CommitLog::open(dir.path()).unwrap();
        log.append(entry(1)).unwrap();
        drop(log);
        let path = dir.path().join(COMMIT_LOG);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"not json\n").unwrap();
        drop(f);
        let err = CommitLog::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn appending_out_of_sequence_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = CommitLog::open(dir.path()).unwrap();
        assert!(log.append(entry(2)).is_err());
    }
}
