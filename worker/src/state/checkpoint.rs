//! Local checkpoints of one partition's state, each tied to the exact input offsets it reflects.
//!
//! Layout: `<root>/p<partition>/checkpoints/<seq>/db/` (a RocksDB checkpoint) and `.../meta.json`, written
//! last through a rename so a checkpoint interrupted half-way (crash, full disk) is never chosen. The live DB
//! only ever receives the writes of committed transactions (with their position, see `position.rs`), so a
//! checkpoint's offsets never run ahead of the committed frontier, whenever it is cut.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::capture::{Captured, DbHandle};
use super::rocks::StateError;

/// What a completed checkpoint reflects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointMeta {
    pub partition: i32,
    /// Monotonic per partition; larger is newer.
    pub seq: u64,
    /// Next input offset to read per source topic (authorizations, device-telemetry, account-changes): the
    /// state contains exactly the records before these offsets.
    pub offsets: [i64; 3],
    /// Sequence number of the last transaction whose input the state includes (the progress chain link).
    pub txn_seq: u64,
    /// The state lineage (see `sluice_api::worker_env::LINEAGE`); absent: the job's original one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
}

impl CheckpointMeta {
    /// True when every offset is at or below `frontier` (the checkpoint is usable for that frontier).
    pub fn fits_within(&self, frontier: &[i64; 3]) -> bool {
        self.offsets.iter().zip(frontier).all(|(o, f)| o <= f)
    }
}

/// The checkpoints of one partition on local disk, in one state lineage: those it takes carry the lineage,
/// and only the lineage's own are candidates for recovery.
#[derive(Clone, Debug)]
pub struct LocalCheckpoints {
    partition: i32,
    root: PathBuf,
    dir: PathBuf,
    lineage: Option<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl LocalCheckpoints {
    /// The checkpoints of `partition` under `state_root`, in the original lineage.
    pub fn new(state_root: &Path, partition: i32) -> LocalCheckpoints {
        LocalCheckpoints {
            partition,
            root: state_root.to_path_buf(),
            dir: state_root.join(format!("p{partition}")).join("checkpoints"),
            lineage: None,
        }
    }

    /// The same checkpoints seen from state lineage `lineage`.
    pub fn in_lineage(mut self, lineage: Option<String>) -> LocalCheckpoints {
        self.lineage = lineage;
        self
    }

    pub fn lineage(&self) -> Option<&String> {
        self.lineage.as_ref()
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The live DB directory of this partition.
    pub fn live(&self) -> PathBuf {
        Self::live_dir(&self.root, self.partition)
    }

    /// The live DB directory of this partition.
    pub fn live_dir(state_root: &Path, partition: i32) -> PathBuf {
        state_root.join(format!("p{partition}")).join("live")
    }

    fn seq_dir(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}"))
    }

    /// Cuts a new checkpoint of the live DB behind `db` (any thread) under the next sequence number; its
    /// offsets are the position the copy captured.
    pub fn take(&self, db: &DbHandle) -> Result<(CheckpointMeta, Captured), StateError> {
        let seq = self.next_seq()?;
        let db_dir = self.prepare(seq)?;
        let captured = db.checkpoint_to(&db_dir)?;
        let meta = CheckpointMeta {
            partition: self.partition,
            seq,
            offsets: captured.position.offsets,
            txn_seq: captured.position.txn_seq,
            lineage: self.lineage.clone(),
        };
        self.finish(&meta)?;
        Ok((meta, captured))
    }

    /// The next free sequence number.
    pub fn next_seq(&self) -> Result<u64, StateError> {
        Ok(self.list()?.last().map_or(1, |m| m.seq + 1))
    }

    /// Starts checkpoint `seq`: returns the (not yet existing) DB directory to fill. Whatever an earlier,
    /// never-completed attempt with the same seq left is removed.
    pub fn prepare(&self, seq: u64) -> Result<PathBuf, StateError> {
        let dir = self.seq_dir(seq);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(dir.join("db"))
    }

    /// The DB directory of checkpoint `seq`.
    pub fn db_dir(&self, seq: u64) -> PathBuf {
        self.seq_dir(seq).join("db")
    }

    /// Completes a prepared checkpoint by writing its metadata (last, through a rename).
    pub fn finish(&self, meta: &CheckpointMeta) -> Result<PathBuf, StateError> {
        let dir = self.seq_dir(meta.seq);
        let json = serde_json::to_vec_pretty(meta).map_err(|e| StateError::BadCheckpoint {
            path: dir.clone(),
            reason: e.to_string(),
        })?;
        let tmp = dir.join("meta.json.tmp");
        std::fs::write(&tmp, json).map_err(io(&tmp))?;
        let done = dir.join("meta.json");
        std::fs::rename(&tmp, &done).map_err(io(&done))?;
        Ok(dir)
    }

    /// Completed checkpoints, oldest first. Incomplete ones (no meta.json) are skipped.
    pub fn list(&self) -> Result<Vec<CheckpointMeta>, StateError> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io(&self.dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io(&self.dir))?;
            let meta_path = entry.path().join("meta.json");
            let Ok(bytes) = std::fs::read(&meta_path) else {
                continue;
            };
            let meta: CheckpointMeta =
                serde_json::from_slice(&bytes).map_err(|e| StateError::BadCheckpoint {
                    path: meta_path.clone(),
                    reason: e.to_string(),
                })?;
            if meta.partition == self.partition {
                out.push(meta);
            }
        }
        out.sort_by_key(|m| m.seq);
        Ok(out)
    }

    /// The newest completed checkpoint of this lineage whose offsets are within `frontier`.
    pub fn newest_within(&self, frontier: &[i64; 3]) -> Result<Option<CheckpointMeta>, StateError> {
        Ok(self
            .list()?
            .into_iter()
            .rev()
            .find(|m| m.lineage == self.lineage && m.fits_within(frontier)))
    }

    /// Replaces `live` with a copy of checkpoint `seq` (SST files hard-linked: RocksDB never rewrites them).
    pub fn restore_into(&self, seq: u64, live: &Path) -> Result<(), StateError> {
        if live.exists() {
            std::fs::remove_dir_all(live).map_err(io(live))?;
        }
        std::fs::create_dir_all(live).map_err(io(live))?;
        let src = self.seq_dir(seq).join("db");
        for entry in std::fs::read_dir(&src).map_err(io(&src))? {
            let entry = entry.map_err(io(&src))?;
            let from = entry.path();
            let to = live.join(entry.file_name());
            let is_sst = from.extension().is_some_and(|e| e == "sst");
            if is_sst {
                std::fs::hard_link(&from, &to).map_err(io(&to))?;
            } else {
                std::fs::copy(&from, &to).map_err(io(&to))?;
            }
        }
        Ok(())
    }

    /// Deletes all but the newest `keep` completed checkpoints, and any incomplete ones older than those,
    /// except those `pinned` says an upload still reads.
    pub fn retain(&self, keep: usize, pinned: impl Fn(u64) -> bool) -> Result<(), StateError> {
        let complete = self.list()?;
        let Some(oldest_kept) = complete
            .len()
            .checked_sub(keep)
            .and_then(|i| complete.get(i))
        else {
            return Ok(());
        };
        let cutoff = self.seq_dir(oldest_kept.seq);
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) => return Err(io(&self.dir)(e)),
        };
        for entry in entries {
            let path = entry.map_err(io(&self.dir))?.path();
            // Directory names are zero-padded sequence numbers, so name order is age order.
            let seq = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<u64>().ok());
            if path < cutoff && !seq.is_some_and(&pinned) {
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sluice_core::processor::StateStore;

    use super::*;
    use crate::state::{PartitionDb, RocksResources, StatePosition};

    #[test]
    fn picks_newest_within_frontier_and_retains() {
        let tmp = tempfile::tempdir().unwrap();
        let res = RocksResources::new(8, 8);
        let live = LocalCheckpoints::live_dir(tmp.path(), 0);
        let mut db = PartitionDb::open(&res, &live).unwrap();
        let cps = LocalCheckpoints::new(tmp.path(), 0);
        for seq in 1..=4u64 {
            db.put_card("c", vec![seq as u8]).unwrap();
            let position = StatePosition {
                offsets: [seq as i64 * 10, 0, 0],
                txn_seq: seq,
            };
            db.commit_pending(&position).unwrap();
            let (meta, _) = cps.take(&db.handle()).unwrap();
            assert_eq!(
                (meta.seq, meta.offsets, meta.txn_seq),
                (seq, position.offsets, seq)
            );
        }
        // An incomplete checkpoint (crash before meta.json) is invisible.
        std::fs::create_dir_all(tmp.path().join("p0/checkpoints/00000000000000000009/db")).unwrap();
        assert_eq!(cps.list().unwrap().len(), 4);
        assert_eq!(cps.newest_within(&[35, 0, 0]).unwrap().unwrap().seq, 3);
        assert!(cps.newest_within(&[5, 0, 0]).unwrap().is_none());

        drop(db);
        cps.restore_into(2, &live).unwrap();
        let mut db = PartitionDb::open(&res, &live).unwrap();
        assert_eq!(db.get_card("c").unwrap(), Some(vec![2]));

        cps.retain(2, |_| false).unwrap();
        let seqs: Vec<u64> = cps.list().unwrap().iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![3, 4]);
    }

    #[test]
    fn a_lineage_sees_only_its_own_checkpoints() {
        let tmp = tempfile::tempdir().unwrap();
        let res = RocksResources::new(8, 8);
        let live = LocalCheckpoints::live_dir(tmp.path(), 0);
        let mut db = PartitionDb::open(&res, &live).unwrap();
        let original = LocalCheckpoints::new(tmp.path(), 0);
        let redeployed = original.clone().in_lineage(Some("rd-1".into()));
        for (seq, cps) in [(1u64, &original), (2, &original), (3, &redeployed)] {
            let position = StatePosition {
                offsets: [seq as i64 * 10, 0, 0],
                txn_seq: seq,
            };
            db.commit_pending(&position).unwrap();
            let (meta, _) = cps.take(&db.handle()).unwrap();
            assert_eq!(meta.lineage.as_ref(), cps.lineage());
        }
        let frontier = [99, 0, 0];
        assert_eq!(original.newest_within(&frontier).unwrap().unwrap().seq, 2);
        assert_eq!(redeployed.newest_within(&frontier).unwrap().unwrap().seq, 3);
        let other = original.clone().in_lineage(Some("rd-2".into()));
        assert!(other.newest_within(&frontier).unwrap().is_none());
        // A checkpoint written before lineages existed reads as the original lineage.
        let meta: CheckpointMeta =
            serde_json::from_str(r#"{"partition":0,"seq":1,"offsets":[10,0,0],"txnSeq":1}"#)
                .unwrap();
        assert_eq!(meta.lineage, None);
    }
}
