//! One RocksDB instance per input partition (Kafka Streams' task-owns-its-store model), sharing one block
//! cache and one write-buffer budget per worker so memory stays bounded however many partitions it owns.
//!
//! Writes skip the WAL: durability comes from checkpoints plus deterministic replay of the recorded input,
//! never from the live directory. A checkpoint therefore flushes memtables first.
//!
//! Writes of an open transaction stay in a write-back buffer (reads see them, see `write_back.rs`) and reach
//! RocksDB in one atomic batch, together with the new [`StatePosition`], only after the Kafka transaction
//! committed. So the live DB never holds uncommitted state, a hot card costs one RocksDB write per
//! transaction instead of one per event, and a checkpoint can be cut at any moment by another thread (see
//! [`DbHandle`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use rocksdb::compaction_filter::Decision;
use rocksdb::{
    BlockBasedOptions, Cache, DB, DBCompressionType, DataBlockIndexType, Options,
    WriteBufferManager,
};
use sluice_core::card_state::peek_last_event_time_ms;
use sluice_core::processor::StateStore;

use super::capture::DbHandle;
use super::memory::{BlockCacheUsage, MEMTABLES, PartitionMemory, int_property, partition_memory};
use super::position::StatePosition;
use super::write_back::{SealedBatch, WriteBack};

/// Key of the partition metadata (watermark bookkeeping); card keys all start with `c/`.
pub(super) const META_KEY: &[u8] = b"m";
/// Key of the [`StatePosition`] the stored state reflects.
pub(super) const POSITION_KEY: &[u8] = b"p";
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
    #[error("the state in {dir} records no input position (written by a build without one?)")]
    NoPosition { dir: PathBuf },
}

/// Memory shared by every partition DB of one worker.
#[derive(Clone)]
pub struct RocksResources {
    cache: Cache,
    write_buffers: WriteBufferManager,
    /// Bytes of each generation of each partition's read cache (see `write_back.rs`); 0: no cache.
    read_cache_generation_bytes: usize,
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
            read_cache_generation_bytes: 0,
        }
    }

    /// Adds a read cache of recently committed state: `mib` per worker, split evenly over its `partitions`
    /// (each keeps two generations of half its share).
    pub fn with_read_cache(mut self, mib_per_worker: u32, partitions: usize) -> RocksResources {
        self.read_cache_generation_bytes = mib(mib_per_worker) / partitions.max(1) / 2;
        self
    }

    fn options(&self) -> Options {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_write_buffer_manager(&self.write_buffers);
        // Levels 0 and 1 are rewritten soon by compaction, so compressing them is wasted CPU; LZ4 below, also
        // at the bottom (ZSTD there cost ~1.5 % of the worker's CPU). Measured on the 5M-authorization drain:
        // 13.1 → 12.3 CPU-seconds per million records (docs/benchmarks.md, session 7).
        {
            use DBCompressionType::{Lz4, None as Plain};
            opts.set_compression_per_level(&[Plain, Plain, Lz4, Lz4, Lz4, Lz4, Lz4]);
            opts.set_bottommost_compression_type(Lz4);
        }
        opts.set_max_background_jobs(2);
        opts.set_keep_log_file_num(2);
        // Every record reads one card, and most cards are not in the memtable: a whole-key bloom filter
        // there answers those misses without a skiplist search (that search was ~10 % of the worker's CPU).
        opts.set_memtable_whole_key_filtering(true);
        opts.set_memtable_prefix_bloom_ratio(0.05);
        let mut table = BlockBasedOptions::default();
        // Every lookup consults each level-0 file's filter and index: keep them pinned instead of looking them
        // up in the (mutex-guarded) block cache each time.
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        table.set_pin_top_level_index_and_filter(true);
        table.set_block_cache(&self.cache);
        table.set_bloom_filter(10.0, false);
        // Point lookups only: a hash index inside each data block replaces its binary search.
        table.set_data_block_index_type(DataBlockIndexType::BinaryAndHash);
        table.set_data_block_hash_ratio(0.75);
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
    db: Arc<DB>,
    dir: PathBuf,
    /// Cards whose last event is before this (event time) are expired; the compaction filter drops them.
    ttl_cutoff: Arc<AtomicI64>,
    /// Writes of the open and the committing transaction, key → value (`None`: deleted), and the read cache
    /// of committed ones. Keys are distinct, so the order in which they are later put into the batch cannot
    /// change the result.
    buffer: WriteBack,
    /// Reused for building card keys on reads.
    key_buf: Vec<u8>,
    /// The worker's shared block cache, for its usage figures.
    cache: Cache,
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
        Ok(PartitionDb {
            db: Arc::new(db),
            dir: dir.to_path_buf(),
            ttl_cutoff,
            buffer: WriteBack::with_cache(resources.read_cache_generation_bytes),
            key_buf: Vec::new(),
            cache: resources.cache.clone(),
        })
    }

    /// Writes the buffered writes of the transaction that just committed, and `position`, in one atomic batch.
    pub fn commit_pending(&mut self, position: &StatePosition) -> Result<(), StateError> {
        self.seal(*position).write()?;
        self.sealed_written();
        Ok(())
    }

    /// Freezes the open transaction's writes for its commit: reads still see them, and the returned batch
    /// (which brings the state to `position`) may be written by another thread once the transaction committed.
    /// Then call [`Self::sealed_written`].
    pub fn seal(&mut self, position: StatePosition) -> SealedBatch {
        SealedBatch {
            db: Arc::clone(&self.db),
            dir: self.dir.clone(),
            writes: self.buffer.seal(),
            position,
        }
    }

    /// The last sealed batch is in RocksDB.
    pub fn sealed_written(&mut self) {
        self.buffer.mark_sealed_written();
    }

    /// Moves finished SST files into the DB (bulk loading, see `bulk.rs`).
    pub(super) fn ingest(&self, files: Vec<PathBuf>) -> Result<(), StateError> {
        let mut opts = rocksdb::IngestExternalFileOptions::default();
        opts.set_move_files(true);
        self.db
            .ingest_external_file_opts(&opts, files)
            .map_err(self.rocks_err())
    }

    /// Writes buffered in the open transaction (not yet in RocksDB).
    pub fn pending_writes(&self) -> usize {
        self.buffer.open_len()
    }

    /// The position of the state in RocksDB (what the last [`Self::commit_pending`] wrote).
    pub fn position(&self) -> Result<Option<StatePosition>, StateError> {
        read_position(&self.db, &self.dir)
    }

    /// A handle another thread can cut checkpoints with while this one keeps writing.
    pub fn handle(&self) -> DbHandle {
        DbHandle::new(Arc::clone(&self.db), self.dir.clone())
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

    /// Approximate bytes of live state (SST + memtables), for metrics.
    pub fn approximate_bytes(&self) -> u64 {
        int_property(&self.db, "rocksdb.total-sst-files-size") + int_property(&self.db, MEMTABLES)
    }

    /// What this partition holds in memory (see `memory.rs`).
    pub fn memory(&self) -> PartitionMemory {
        partition_memory(&self.db, self.buffer.cache_bytes())
    }

    /// The worker's block cache, which this partition shares with the others.
    pub fn block_cache(&self) -> BlockCacheUsage {
        BlockCacheUsage {
            usage: self.cache.get_usage() as u64,
            pinned: self.cache.get_pinned_usage() as u64,
        }
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

pub(super) fn card_key(card_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(CARD_PREFIX.len() + card_id.len());
    k.extend_from_slice(CARD_PREFIX);
    k.extend_from_slice(card_id.as_bytes());
    k
}

pub(super) fn read_position(db: &DB, dir: &Path) -> Result<Option<StatePosition>, StateError> {
    let Some(bytes) = db.get(POSITION_KEY).map_err(|source| StateError::Rocks {
        dir: dir.to_path_buf(),
        source,
    })?
    else {
        return Ok(None);
    };
    StatePosition::decode(&bytes)
        .map(Some)
        .map_err(|e| StateError::BadCheckpoint {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })
}

impl PartitionDb {
    /// Read-your-writes: calls `f` with the value from the buffered layers first, then from RocksDB (pinned
    /// where RocksDB holds it, not copied).
    fn read_with<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, StateError> {
        match self.buffer.get(key) {
            Some(buffered) => Ok(f(buffered.as_deref())),
            None => {
                let stored = self.db.get_pinned(key).map_err(self.rocks_err())?;
                Ok(f(stored.as_deref()))
            }
        }
    }

    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.read_with(key, |v| v.map(<[u8]>::to_vec))
    }
}

impl StateStore for PartitionDb {
    type Error = StateError;

    fn get_card(&mut self, card_id: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.read(&card_key(card_id))
    }

    /// The hot path: the key is built in a reused buffer and the value is not copied out.
    fn with_card<R>(
        &mut self,
        card_id: &str,
        f: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, StateError> {
        let mut key = std::mem::take(&mut self.key_buf);
        key.clear();
        key.extend_from_slice(CARD_PREFIX);
        key.extend_from_slice(card_id.as_bytes());
        let result = self.read_with(&key, f);
        self.key_buf = key;
        result
    }

    fn put_card(&mut self, card_id: &str, bytes: Vec<u8>) -> Result<(), StateError> {
        self.buffer.put(card_key(card_id), Some(bytes));
        Ok(())
    }

    fn delete_card(&mut self, card_id: &str) -> Result<(), StateError> {
        self.buffer.put(card_key(card_id), None);
        Ok(())
    }

    fn get_meta(&mut self) -> Result<Option<Vec<u8>>, StateError> {
        self.read(META_KEY)
    }

    fn put_meta(&mut self, bytes: Vec<u8>) -> Result<(), StateError> {
        self.buffer.put(META_KEY.to_vec(), Some(bytes));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sluice_core::card_state::CardState;

    use super::*;

    fn pos(n: i64) -> StatePosition {
        StatePosition {
            offsets: [n, 0, 0],
            txn_seq: u64::try_from(n).unwrap(),
        }
    }

    #[test]
    fn reads_see_buffered_writes_and_commit_applies_them_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let res = RocksResources::new(8, 8);
        let mut db = PartitionDb::open(&res, tmp.path()).unwrap();
        db.put_card("a", vec![1]).unwrap();
        db.commit_pending(&pos(1)).unwrap();
        db.put_card("a", vec![2]).unwrap();
        db.delete_card("a").unwrap();
        db.put_card("b", vec![3]).unwrap();
        assert_eq!(db.get_card("a").unwrap(), None);
        assert_eq!(db.get_card("b").unwrap(), Some(vec![3]));
        assert_eq!(db.db.get(card_key("a")).unwrap(), Some(vec![1]));
        assert_eq!(db.pending_writes(), 2);
        db.commit_pending(&pos(2)).unwrap();
        assert_eq!(db.pending_writes(), 0);
        assert_eq!(db.db.get(card_key("a")).unwrap(), None);
        assert_eq!(db.db.get(card_key("b")).unwrap(), Some(vec![3]));
        assert_eq!(db.position().unwrap(), Some(pos(2)));
    }

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
        db.commit_pending(&pos(1)).unwrap();
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
        db.commit_pending(&pos(7)).unwrap();
        db.put_card("card-4", vec![6]).unwrap(); // buffered, not committed: must not appear in it
        let captured = db.handle().checkpoint_to(&tmp.path().join("cp")).unwrap();
        assert_eq!(captured.position, pos(7));
        assert_eq!(captured.meta, Some(vec![9]));
        db.put_card("card-3", vec![5]).unwrap(); // after the checkpoint: must not appear in it
        db.commit_pending(&pos(8)).unwrap();
        drop(db);
        let mut restored = PartitionDb::open(&res, &tmp.path().join("cp")).unwrap();
        assert_eq!(restored.get_card("card-1").unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(restored.get_card("card-2").unwrap(), None);
        assert_eq!(restored.get_card("card-3").unwrap(), None);
        assert_eq!(restored.get_card("card-4").unwrap(), None);
        assert_eq!(restored.position().unwrap(), Some(pos(7)));
        assert_eq!(restored.get_meta().unwrap(), Some(vec![9]));
        assert_eq!(restored.count_cards().unwrap(), 1);
    }

    #[test]
    fn memory_figures_count_memtables_in_the_shared_cache_and_the_read_cache_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let res = RocksResources::new(8, 8).with_read_cache(8, 1);
        let mut db = PartitionDb::open(&res, tmp.path()).unwrap();
        let before = db.memory();
        assert_eq!(before.read_cache, 0);
        for i in 0..2_000 {
            db.put_card(&format!("card-{i}"), vec![7; 100]).unwrap();
        }
        db.commit_pending(&pos(1)).unwrap();
        let after = db.memory();
        assert!(after.memtables > before.memtables, "{before:?} → {after:?}");
        // 2,000 keys and values of ~110 bytes, plus the table's slots.
        assert!(after.read_cache > 200_000, "{after:?}");
        let cache = db.block_cache();
        assert!(
            cache.usage > 0,
            "the memtables are charged to it: {cache:?}"
        );
        let other = PartitionDb::open(&res, &tmp.path().join("other")).unwrap();
        assert_eq!(
            other.block_cache().usage,
            db.block_cache().usage,
            "one cache per worker"
        );
    }
}
