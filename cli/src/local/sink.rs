//! The exactly-once file sink. Outputs of the open commit are buffered in memory; a commit first makes its data
//! files durable (`<kind>/<seq:020>.jsonl` via tmp file + fsync + rename + directory fsync), then appends its
//! line to `commits.log` (the commit point). Readers trust only files named in the log, and start-up deletes
//! any other file in the kind directories, so a crash anywhere leaves either the whole commit or none of it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use sluice_core::model::Decision;
use sluice_core::processor::{Output, OutputKind};

use super::commit_log::{CommitEntry, CommitLog, OutputCounts, PartitionOffsets, sync_dir};
use super::{LocalError, io_err};

/// Output kinds in file-layout order; each has a directory named `kind.name()`.
pub const KINDS: [OutputKind; 4] = [
    OutputKind::Decisions,
    OutputKind::Alerts,
    OutputKind::Dlq,
    OutputKind::Late,
];

fn slot(kind: OutputKind) -> usize {
    match kind {
        OutputKind::Decisions => 0,
        OutputKind::Alerts => 1,
        OutputKind::Dlq => 2,
        OutputKind::Late => 3,
    }
}

/// Path of a commit's data file for `kind`, relative to the output directory.
pub fn data_file(kind: OutputKind, seq: u64) -> String {
    format!("{}/{seq:020}.jsonl", kind.name())
}

/// A commit whose data files are durable but which is not committed until [`FileSink::publish`].
pub struct Staged {
    entry: CommitEntry,
}

/// The sink of one local run.
pub struct FileSink {
    dir: PathBuf,
    log: CommitLog,
    /// JSON lines of the open commit, by [`KINDS`] slot.
    buffers: [Vec<u8>; 4],
    open: OutputCounts,
    totals: OutputCounts,
}

impl FileSink {
    /// Opens the sink in `dir`: reads the commit log, deletes uncommitted data files (returns how many) and
    /// checks every committed file is still there.
    pub fn open(dir: &Path) -> Result<(FileSink, u64), LocalError> {
        std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        for kind in KINDS {
            let d = dir.join(kind.name());
            std::fs::create_dir_all(&d).map_err(io_err("creating", &d))?;
        }
        let log = CommitLog::open(dir)?;
        let removed = remove_uncommitted(dir, &log)?;
        for rel in log.committed_files() {
            let path = dir.join(rel);
            if !path.is_file() {
                return Err(LocalError::MissingOutput { path });
            }
        }
        let totals = log.last().map(|e| e.totals).unwrap_or_default();
        let sink = FileSink {
            dir: dir.to_path_buf(),
            log,
            buffers: Default::default(),
            open: OutputCounts::default(),
            totals,
        };
        Ok((sink, removed))
    }

    pub fn last_commit(&self) -> Option<&CommitEntry> {
        self.log.last()
    }

    /// Counts of the open (uncommitted) commit.
    pub fn open_counts(&self) -> &OutputCounts {
        &self.open
    }

    /// Everything committed so far, including earlier runs.
    pub fn totals(&self) -> &OutputCounts {
        &self.totals
    }

    /// Notes one consumed input record in the open commit.
    pub fn count_input(&mut self) {
        self.open.records += 1;
    }

    /// Buffers one output in the open commit.
    pub fn push(&mut self, out: &Output) -> Result<(), LocalError> {
        // `slot` is always 0..4, the buffers' length.
        let buf = &mut self.buffers[slot(out.kind())];
        buf.extend_from_slice(&out.to_json_bytes().map_err(LocalError::Encode)?);
        buf.push(b'\n');
        let c = &mut self.open;
        match out {
            Output::Decision(d) => {
                c.decisions += 1;
                match d.decision {
                    Decision::Approve => c.approve += 1,
                    Decision::Review => c.review += 1,
                    Decision::Decline => c.decline += 1,
                }
            }
            Output::Alert(_) => c.alerts += 1,
            Output::Dlq(_) => c.dlq += 1,
            Output::Late(_) => c.late += 1,
        }
        Ok(())
    }

    /// Step 1 of a commit: writes the open commit's data files durably. Nothing is committed yet.
    pub fn stage(&mut self, offsets: Vec<PartitionOffsets>) -> Result<Staged, LocalError> {
        let seq = self.log.last().map_or(1, |e| e.seq + 1);
        let mut files = Vec::new();
        for kind in KINDS {
            let buf = &self.buffers[slot(kind)];
            if buf.is_empty() {
                continue;
            }
            let rel = data_file(kind, seq);
            write_durable(&self.dir.join(&rel), buf)?;
            sync_dir(&self.dir.join(kind.name()))?;
            files.push(rel);
        }
        let mut totals = self.totals;
        totals.add(&self.open);
        Ok(Staged {
            entry: CommitEntry {
                seq,
                offsets,
                files,
                counts: self.open,
                totals,
            },
        })
    }

    /// Step 2: appends the commit line (the commit point) and starts a new open commit.
    pub fn publish(&mut self, staged: Staged) -> Result<(), LocalError> {
        let totals = staged.entry.totals;
        self.log.append(staged.entry)?;
        self.totals = totals;
        self.open = OutputCounts::default();
        for b in &mut self.buffers {
            b.clear();
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` so that `path` either does not exist or holds all of them, even after a crash.
fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), LocalError> {
    let tmp = path.with_extension("jsonl.tmp");
    let mut f = File::create(&tmp).map_err(io_err("creating", &tmp))?;
    f.write_all(bytes).map_err(io_err("writing", &tmp))?;
    f.sync_all().map_err(io_err("syncing", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err("renaming into place", path))
}

/// Deletes every file in the kind directories that no complete commit line names (a crash between staging and
/// publishing, or a half-written tmp file). Those outputs were never committed; replay will produce them again.
fn remove_uncommitted(dir: &Path, log: &CommitLog) -> Result<u64, LocalError> {
    let mut removed = 0;
    for kind in KINDS {
        let kind_dir = dir.join(kind.name());
        let entries = std::fs::read_dir(&kind_dir).map_err(io_err("listing", &kind_dir))?;
        let mut any = false;
        for entry in entries {
            let entry = entry.map_err(io_err("listing", &kind_dir))?;
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            let rel = format!("{}/{}", kind.name(), entry.file_name().to_string_lossy());
            if !log.committed_files().contains(&rel) {
                tracing::info!(file = %path.display(), "removing an uncommitted output file left by a crash");
                std::fs::remove_file(&path).map_err(io_err("removing", &path))?;
                removed += 1;
                any = true;
            }
        }
        if any {
            sync_dir(&kind_dir)?;
        }
    }
    Ok(removed)
}
