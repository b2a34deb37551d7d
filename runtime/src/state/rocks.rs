//! One RocksDB instance per input partition (Kafka Streams' task-owns-its-store model), sharing one block
//! cache and one write-buffer budget per worker so memory stays bounded however many partitions it owns.
//!
//! Writes skip the WAL: durability comes from checkpoints plus deterministic replay of the recorded input,
//! never from the live directory. A checkpoint therefore flushes memtables first.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use rocksdb::compaction_filter::Decision;
use rocksdb::{
    BlockBasedOptions, Cache, DB, DBCompressionType, Options, WriteBufferManager, WriteOptions,
};
use sluice_core::card_state::peek_last_event_time_ms;
use sluice_core::processor::StateStore;

/// Key of the partition metadata (watermark bookkeeping); card keys all start with `c/`.
const META_KEY: &[u8] = b"m";
const CARD_PREFIX: &[u8] = b"c/";

/// Errors of the state layer, with the partition directory involved.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("rocksdb error in {dir}: {source}")]
    Rocks {
        dir: PathBuf,
        #[source]
        source: rocksdb::Error,
    },
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("checkpoint metadata {path} is invalid: {reason}")]
    BadCheckpoint { path: PathBuf, reason: String },
}

/// Memory shared by every partition DB of one worker.
#[derive(Clone)]
pub struct RocksResources {
    cache: Cache,
    write_buffers: WriteBufferManager,
}

impl RocksResources {
    pub fn new(block_cache_mib: u32, write_buffer_mib: u32) -> RocksResources {
        let cache = Cache::new_lru_cache(mib(block_cache_mib));
        // Memtables are charged to the block cache too, so the two budgets together cap RocksDB's memory.
        let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(
            mib(write_buffer_mib),
            false,
            cache.clone(),
        );
        RocksResources {
            cache,
            write_buffers,
        }
    }

    fn options(&self) -> Options {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_write_buffer_manager(&self.write_buffers);
        opts.set_compression_type(DBCompressionType::Lz4);
        opts.set_bottommost_compression_type(DBCompressionType::Zstd);
        opts.set_max_background_jobs(2);
        opts.set_keep_log_file_num(2);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&self.cache);
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        opts.set_block_based_table_factory(&table);
        opts
    }
}

fn mib(n: u32) -> usize {
    usize::try_from(n)
        .unwrap_or(usize::MAX)
        .saturating_mul(1024 * 1024)
}

/// The live state of one partition.
pub struct PartitionDb {
    db: DB,
    dir: PathBuf,
    write_opts: WriteOptions,
    /// Cards whose last event is before this (event time) are expired; the compaction filter drops them.
    ttl_cutoff: Arc<AtomicI64>,
}

impl PartitionDb {
    /// Opens (or creates) the DB in `dir`.
    pub fn open(resources: &RocksResources, dir: &Path) -> Result<PartitionDb, StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let ttl_cutoff = Arc::new(AtomicI64::new(i64::MIN));
        let mut opts = resources.options();
        let cutoff = Arc::clone(&ttl_cutoff);
        // Physical TTL: the processor already treats expired cards as absent (so results never depend on
        // when compaction runs); this only reclaims their space. The cutoff only grows with the watermark.
        opts.set_compaction_filter(
            "sluice-card-ttl",
            move |_level: u32, key: &[u8], value: &[u8]| {
                let expired = key.starts_with(CARD_PREFIX)
                    && peek_last_event_time_ms(value)
                        .is_ok_and(|t| t < cutoff.load(Ordering::Relaxed));
                if expired {
                    Decision::Remove
                } else {
                    Decision::Keep
                }
            },
        );
        let db = DB::open(&opts, dir).map_err(|source| StateError::Rocks {
            dir: dir.to_path_buf(),
            source,
        })?;
        let mut write_opts = WriteOptions::default();
        write_opts.disable_wal(true);
        Ok(PartitionDb {
            db,
            dir: dir.to_path_buf(),
            write_opts,
            ttl_cutoff,
        })
    }

    /// Publishes the processor's TTL cutoff (watermark − stateTtl) to the compaction filter.
    pub fn set_ttl_cutoff(&self, cutoff: Option<i64>) {
        if let Some(c) = cutoff {
            self.ttl_cutoff.fetch_max(c, Ordering::Relaxed);
        }
    }

    /// Compacts everything now (tests; operators reclaiming space after a TTL change).
    pub fn compact_all(&self) {
        self.db.compact_range::<&[u8], &[u8]>(None, None);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn rocks_err(&self) -> impl Fn(rocksdb::Error) -> StateError + '_ {
        move |source| StateError::Rocks {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Writes a consistent on-disk copy to `dest` (hard links for SST files; memtables flushed first).
    pub fn checkpoint_to(&self, dest: &Path) -> Result<(), StateError> {
        self.db.flush().map_err(self.rocks_err())?;
        let cp = rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(self.rocks_err())?;
        cp.create_checkpoint(dest).map_err(self.rocks_err())
    }

    /// Approximate bytes of live state (SST + memtables), for metrics.
    pub fn approximate_bytes(&self) -> u64 {
        let sst = self
            .db
            .property_int_value("rocksdb.total-sst-files-size")
            .ok()
            .flatten()
            .unwrap_or(0);
        let mem = self
            .db
            .property_int_value("rocksdb.cur-size-all-mem-tables")
            .ok()
            .flatten()
            .unwrap_or(0);
        sst + mem
    }

    /// Number of cards stored (iterates; for tests and `status`, not the hot path).
    pub fn count_cards(&self) -> Result<u64, StateError> {
        let mut n = 0;
        for item in self.db.prefix_iterator(CARD_PREFIX) {
            let (k, _) = item.map_err(self.rocks_err())?;
            if !k.starts_with(CARD_PREFIX) {
                break;
            }
            n += 1;
        }
        Ok(n)
    }
}

fn card_key(card_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(CARD_PREFIX.len() + card_id.len());
    k.extend_from_slice(CARD_PREFIX);
    k.extend_from_slice(card_id.as_bytes());
    k
}

impl StateStore for PartitionDb {
    type Error = StateError;

    fn get_card(&mut self, card_id: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.db.get(card_key(card_id)).map_err(self.rocks_err())
    }

    fn put_card(&mut self, card_id: &str, bytes: Vec<u8>) -> Result<(), StateError> {
        self.db
            .put_opt(card_key(card_id), bytes, &self.write_opts)
            .map_err(self.rocks_err())
    }

    fn delete_card(&mut self, card_id: &str) -> Result<(), StateError> {
        self.db
            .delete_opt(card_key(card_id), &self.write_opts)
            .map_err(self.rocks_err())
    }

    fn get_meta(&mut self) -> Result<Option<Vec<u8>>, StateError> {
        self.db.get(META_KEY).map_err(self.rocks_err())
    }

    fn put_meta(&mut self, bytes: Vec<u8>) -> Result<(), StateError> {
        self.db
            .put_opt(META_KEY, bytes, &self.write_opts)
            .map_err(self.rocks_err())
    }
}

#[cfg(test)]
mod tests {
    use sluice_core::card_state::CardState;

    use super::*;

    #[test]
    fn compaction_drops_cards_behind_the_ttl_cutoff_only() {
        let tmp = tempfile::tempdir().unwrap();
        let res = RocksResources::new(8, 8);
        let mut db = PartitionDb::open(&res, tmp.path()).unwrap();
        let card = |t: i64| {
            CardState {
                last_event_time_ms: t,
                ..CardState::default()
            }
            .encode()
        };
        db.put_card("old", card(1_000)).unwrap();
        db.put_card("new", card(9_000)).unwrap();
        db.put_meta(vec![1]).unwrap();
        db.set_ttl_cutoff(Some(5_000));
        db.db.flush().unwrap();
        db.compact_all();
        assert_eq!(db.get_card("old").unwrap(), None);
        assert!(db.get_card("new").unwrap().is_some());
        assert_eq!(db.get_meta().unwrap(), Some(vec![1]));
    }

    #[test]
    fn cards_and_meta_survive_a_checkpoint_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let res = RocksResources::new(8, 8);
        let mut db = PartitionDb::open(&res, &tmp.path().join("live")).unwrap();
        db.put_card("card-1", vec![1, 2, 3]).unwrap();
        db.put_card("card-2", vec![4]).unwrap();
        db.delete_card("card-2").unwrap();
        db.put_meta(vec![9]).unwrap();
        db.checkpoint_to(&tmp.path().join("cp")).unwrap();
        db.put_card("card-3", vec![5]).unwrap(); // after the checkpoint: must not appear in it
        drop(db);
        let mut restored = PartitionDb::open(&res, &tmp.path().join("cp")).unwrap();
        assert_eq!(restored.get_card("card-1").unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(restored.get_card("card-2").unwrap(), None);
        assert_eq!(restored.get_card("card-3").unwrap(), None);
        assert_eq!(restored.get_meta().unwrap(), Some(vec![9]));
        assert_eq!(restored.count_cards().unwrap(), 1);
    }
}
