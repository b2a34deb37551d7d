//! Cutting checkpoints of a live partition DB from another thread.
//!
//! The processing thread only hands out a [`DbHandle`]; flushing memtables and hard-linking SST files happen
//! here, while processing goes on. Consistency comes from the [`StatePosition`] committed in the same batch as
//! each transaction's writes (see `rocks.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{DB, Options};

use super::position::StatePosition;
use super::rocks::{META_KEY, StateError, read_position};

/// A thread-safe handle on a partition's live DB for cutting checkpoints off the processing thread.
#[derive(Clone)]
pub struct DbHandle {
    db: Arc<DB>,
    dir: PathBuf,
}

/// What a checkpoint captured: where in the input it stands, and the partition metadata at that point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub position: StatePosition,
    pub meta: Option<Vec<u8>>,
}

impl DbHandle {
    pub(super) fn new(db: Arc<DB>, dir: PathBuf) -> DbHandle {
        DbHandle { db, dir }
    }

    /// Writes a consistent on-disk copy to `dest` (memtables flushed, SST files hard-linked) and reads back
    /// which position it captured. Safe while another thread commits batches: RocksDB flushes memtables in
    /// order and never splits a batch, so the copy holds a prefix of whole committed batches, and its own
    /// position key names the last one.
    pub fn checkpoint_to(&self, dest: &Path) -> Result<Captured, StateError> {
        let err = |source| StateError::Rocks {
            dir: self.dir.clone(),
            source,
        };
        let cp = rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(err)?;
        cp.create_checkpoint(dest).map_err(err)?;
        read_captured(dest)
    }
}

/// Opens a checkpoint directory read-only and reads its position and partition metadata.
pub fn read_captured(dir: &Path) -> Result<Captured, StateError> {
    let err = |source| StateError::Rocks {
        dir: dir.to_path_buf(),
        source,
    };
    let mut opts = Options::default();
    // Only two point reads: do not open (and index) every table file up front.
    opts.set_max_open_files(16);
    let db = DB::open_for_read_only(&opts, dir, false).map_err(err)?;
    let position = read_position(&db, dir)?.ok_or_else(|| StateError::NoPosition {
        dir: dir.to_path_buf(),
    })?;
    let meta = db.get(META_KEY).map_err(err)?;
    Ok(Captured { position, meta })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use sluice_core::processor::StateStore;

    use super::*;
    use crate::state::{PartitionDb, RocksResources};

    /// A writer commits batch after batch (every card of batch n set to n, position n) while checkpoints are cut
    /// concurrently: each checkpoint must hold exactly the batch its position names, never a mix.
    #[test]
    fn concurrent_checkpoints_capture_whole_committed_batches() {
        let tmp = tempfile::tempdir().unwrap();
        let res = RocksResources::new(8, 1);
        let mut db = PartitionDb::open(&res, &tmp.path().join("live")).unwrap();
        let pos = |n: i64| StatePosition {
            offsets: [n, n, n],
            txn_seq: u64::try_from(n).unwrap(),
        };
        db.commit_pending(&pos(0)).unwrap();
        let handle = db.handle();
        let stop = Arc::new(AtomicBool::new(false));
        let writer_stop = Arc::clone(&stop);
        let writer = std::thread::spawn(move || {
            let mut n = 0i64;
            while !writer_stop.load(Ordering::Relaxed) && n < 200_000 {
                n += 1;
                for card in 0..50 {
                    // Large values so the 1 MiB write buffer fills and RocksDB flushes on its own too.
                    let mut v = n.to_le_bytes().to_vec();
                    v.resize(512, 7);
                    db.put_card(&format!("card-{card}"), v).unwrap();
                }
                db.commit_pending(&pos(n)).unwrap();
            }
            n
        });
        let mut seen = Vec::new();
        for i in 0..12 {
            let dir = tmp.path().join(format!("cp{i}"));
            let captured = handle.checkpoint_to(&dir).unwrap();
            let n = captured.position.offsets[0];
            assert_eq!(captured.position, pos(n));
            let mut copy = PartitionDb::open(&res, &dir).unwrap();
            for card in 0..50 {
                let v = copy.get_card(&format!("card-{card}")).unwrap();
                let got = v.map(|v| i64::from_le_bytes(v[..8].try_into().unwrap()));
                assert_eq!(
                    got,
                    (n > 0).then_some(n),
                    "checkpoint {i} at batch {n}, card {card}"
                );
            }
            seen.push(n);
        }
        stop.store(true, Ordering::Relaxed);
        let written = writer.join().unwrap();
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        assert!(
            seen.iter().any(|&n| n > 0 && n < written),
            "no checkpoint mid-stream: {seen:?}"
        );
    }
}
