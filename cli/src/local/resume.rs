//! Start-up: an optional fresh wipe, then every partition brought to the committed frontier (the offsets of the
//! last complete line of `commits.log`) exactly as the Kafka worker recovers: restore the newest local
//! checkpoint within the frontier (or start empty), then replay the input from the checkpoint's offsets to the
//! frontier through the same `PartitionTask::process`, output discarded — it is already committed.
//!
//! Replay needs no recorded interleaving: records are processed in generator order, so the committed input is
//! always a prefix of the generated stream (`totals.records` long) and regenerating it reproduces the order.

use std::path::Path;

use sluice_core::model::ScoringModel;
use sluice_core::processor::{JobParams, Output};

use super::commit_log::{COMMIT_LOG, CommitEntry};
use super::config::LocalJob;
use super::manifest::MANIFEST;
use super::sink::KINDS;
use super::source::{LocalSource, SourceRecord};
use super::{LocalError, io_err};
use sluice_worker::state::{LocalCheckpoints, RocksResources};
use sluice_worker::worker::task::PartitionTask;

/// Partitions ready to process new input, and the source positioned right after the committed prefix.
pub struct Resumed {
    /// One task per generator partition; index = partition number.
    pub tasks: Vec<PartitionTask>,
    pub source: LocalSource,
    /// Records reprocessed to rebuild state (output discarded).
    pub replayed: u64,
    /// Checkpoint restored per partition (`None`: rebuilt from the first record).
    pub checkpoints: Vec<Option<u64>>,
}

fn remove_path(path: &Path) -> Result<(), LocalError> {
    let result = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("removing", path)(e)),
        _ => Ok(()),
    }
}

/// Deletes all partition state (directories `p<N>` under `state.dir`, nothing else).
pub fn wipe_state(job: &LocalJob) -> Result<(), LocalError> {
    let state = Path::new(&job.job.state.dir);
    let entries = match std::fs::read_dir(state) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("listing", state)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("listing", state))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_partition = name
            .strip_prefix('p')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_partition {
            remove_path(&entry.path())?;
        }
    }
    Ok(())
}

/// `fresh: true`: deletes the previous run's state and outputs. Only what Sluice creates is removed (partition
/// directories under `state.dir`; the log, manifest and kind directories under `outputDir`), so a mistyped
/// directory such as `.` or `$HOME` never loses unrelated files.
pub fn wipe(job: &LocalJob) -> Result<(), LocalError> {
    wipe_state(job)?;
    let out = Path::new(&job.local.output_dir);
    let manifest_tmp = format!("{MANIFEST}.tmp");
    let names = [COMMIT_LOG, MANIFEST, manifest_tmp.as_str()]
        .into_iter()
        .chain(KINDS.iter().map(|k| k.name()));
    for name in names {
        remove_path(&out.join(name))?;
    }
    Ok(())
}

/// Committed next offsets per partition (all zero before the first commit).
fn frontier_of(partitions: u32, last: Option<&CommitEntry>) -> Result<Vec<[i64; 3]>, LocalError> {
    let Some(last) = last else {
        return Ok((0..partitions).map(|_| [0; 3]).collect());
    };
    let listed: Vec<i32> = last.offsets.iter().map(|o| o.partition).collect();
    let expected: Vec<i32> = (0..i32::try_from(partitions).unwrap_or(0)).collect();
    if listed != expected {
        return Err(LocalError::SourceMismatch {
            reason: format!(
                "commit {} lists partitions {listed:?}, the generator has {expected:?}",
                last.seq
            ),
        });
    }
    Ok(last.offsets.iter().map(|o| o.as_array()).collect())
}

/// One partition's task, opened on its restored (or empty) state.
struct Restored {
    task: PartitionTask,
    /// Next offsets per topic of the restored state: the replay starts here.
    start: [i64; 3],
    /// The checkpoint restored (`None`: empty state).
    checkpoint: Option<u64>,
}

/// Restores or wipes every partition's state, then replays the committed prefix of the input past each
/// partition's checkpoint.
pub fn resume(
    job: &LocalJob,
    resources: &RocksResources,
    params: JobParams,
    model: &ScoringModel,
    last: Option<&CommitEntry>,
) -> Result<Resumed, LocalError> {
    let frontier = frontier_of(job.generator.partitions, last)?;
    let state_root = Path::new(&job.job.state.dir);
    let mut partitions = Vec::with_capacity(frontier.len());
    for (p, front) in (0i32..).zip(&frontier) {
        partitions.push(restore_partition(
            resources, state_root, p, front, params, model,
        )?);
    }

    let target = last.map_or(0, |e| e.totals.records);
    let mut source = LocalSource::new(&job.generator);
    let replayed = replay_committed(&mut source, &mut partitions, &frontier, target)?;
    let (mut tasks, checkpoints): (Vec<_>, Vec<_>) = partitions
        .into_iter()
        .map(|r| (r.task, r.checkpoint))
        .unzip();
    settle_at_frontier(&mut tasks, &source, &frontier)?;
    Ok(Resumed {
        tasks,
        source,
        replayed,
        checkpoints,
    })
}

/// Restores partition `p` from its newest local checkpoint within `front` (or starts it empty) and opens its
/// task there.
fn restore_partition(
    resources: &RocksResources,
    state_root: &Path,
    p: i32,
    front: &[i64; 3],
    params: JobParams,
    model: &ScoringModel,
) -> Result<Restored, LocalError> {
    let state = |source| LocalError::State {
        partition: p,
        source,
    };
    let cps = LocalCheckpoints::new(state_root, p);
    let live = LocalCheckpoints::live_dir(state_root, p);
    let chosen = cps.newest_within(front).map_err(state)?;
    let (start, txn_seq) = match &chosen {
        Some(meta) => {
            cps.restore_into(meta.seq, &live).map_err(state)?;
            (meta.offsets, meta.txn_seq)
        }
        None => {
            // The live directory may hold uncommitted state: never reuse it.
            remove_path(&live)?;
            ([0; 3], 0)
        }
    };
    let task = PartitionTask::open(resources, cps, params, model.clone(), start, txn_seq)?;
    Ok(Restored {
        task,
        start,
        checkpoint: chosen.map(|m| m.seq),
    })
}

/// Regenerates the committed prefix of the input (`target` records) and reprocesses, output discarded, every
/// record its partition's restored state does not hold yet. Returns the records reprocessed.
fn replay_committed(
    source: &mut LocalSource,
    partitions: &mut [Restored],
    frontier: &[[i64; 3]],
    target: u64,
) -> Result<u64, LocalError> {
    let mut discard = Vec::new();
    let mut replayed = 0u64;
    while source.position() < target {
        let Some(rec) = source.next_record()? else {
            return Err(LocalError::SourceMismatch {
                reason: format!(
                    "the generator ended after {} records but {target} are committed",
                    source.position()
                ),
            });
        };
        if replay_record(&rec, partitions, frontier, &mut discard)? {
            replayed += 1;
        }
    }
    Ok(replayed)
}

/// Reprocesses one committed record unless its partition's restored state already holds it; `Ok(true)` when
/// it was reprocessed. A record of an unknown partition or beyond the committed offsets means the generator
/// settings changed since the commit.
fn replay_record(
    rec: &SourceRecord,
    partitions: &mut [Restored],
    frontier: &[[i64; 3]],
    discard: &mut Vec<Output>,
) -> Result<bool, LocalError> {
    let p = usize::try_from(rec.partition()).unwrap_or(usize::MAX);
    let t = usize::from(rec.topic().index());
    let (Some(restored), Some(front)) = (partitions.get_mut(p), frontier.get(p)) else {
        return Err(LocalError::SourceMismatch {
            reason: format!(
                "record {} belongs to unknown partition {}",
                rec.index,
                rec.partition()
            ),
        });
    };
    let (start, front) = (
        restored.start.get(t).copied().unwrap_or(0),
        front.get(t).copied().unwrap_or(0),
    );
    if rec.offset >= front {
        return Err(LocalError::SourceMismatch {
            reason: format!(
                "record {} ({} partition {} offset {}) lies beyond the committed offset {front}",
                rec.index,
                rec.topic().name(),
                rec.partition(),
                rec.offset
            ),
        });
    }
    if rec.offset < start {
        return Ok(false); // already in the restored checkpoint
    }
    restored.task.process(
        rec.topic(),
        rec.offset,
        Some(&rec.record.key),
        Some(&rec.record.value),
        discard,
    )?;
    discard.clear();
    Ok(true)
}

/// Checks that the regenerated stream reached exactly each partition's committed offsets, then marks the
/// replayed input committed.
fn settle_at_frontier(
    tasks: &mut [PartitionTask],
    source: &LocalSource,
    frontier: &[[i64; 3]],
) -> Result<(), LocalError> {
    for (task, front) in tasks.iter_mut().zip(frontier) {
        let p = task.partition();
        if source.next_offsets(p).as_ref() != Some(front) {
            return Err(LocalError::SourceMismatch {
                reason: format!(
                    "partition {p}: committed offsets {front:?}, but the regenerated stream reaches {:?}",
                    source.next_offsets(p)
                ),
            });
        }
        // The replayed input is committed history; new input starts exactly at the frontier.
        task.on_committed()?;
        task.set_next_offsets(*front)?;
    }
    Ok(())
}
