//! The write-back buffer in front of a partition's RocksDB: two layers of uncommitted writes and a read cache.
//!
//! - **open**: writes of the transaction being processed.
//! - **sealed**: writes of the transaction being committed. They are frozen when its commit starts and
//!   written to RocksDB by whichever thread finishes the commit (see [`SealedBatch`]), while processing of the
//!   next transaction goes on and reads through both layers.
//! - **read cache** (optional): what recent sealed layers wrote, after it reached RocksDB, in two generations;
//!   when the newer one outgrows its byte budget it replaces the older one. Every write passes through a
//!   sealed layer into the cache, so a cached value is never older than RocksDB's. On the 5M-authorization
//!   drain, memtable and table lookups were ~30 % of the worker's CPU; the cache took the CPU per record from
//!   11.8 to 10.3 µs at the cost of memory (docs/benchmarks.md, session 7).
//!
//! So the live DB still never holds uncommitted state, and the commit's round trips and RocksDB writes no
//! longer stop processing. Reads look in `open`, then `sealed`, then the cache, then RocksDB: whichever answers
//! first holds the newest value. A sealed batch reaches RocksDB atomically, so a read that falls through to the
//! DB while the batch lands sees either the older value or the sealed one — both older than what `sealed`
//! already answered.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use rocksdb::{DB, WriteBatch, WriteOptions};

use super::position::StatePosition;
use super::rocks::{POSITION_KEY, StateError};

/// Key → value; `None` is a delete.
type Writes = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// The buffered layers and the read cache of one partition.
#[derive(Default)]
pub(super) struct WriteBack {
    open: Writes,
    /// Empty once the sealed batch is in RocksDB.
    sealed: Arc<Writes>,
    /// Committed writes already in RocksDB, kept as a read cache in two generations (newest first).
    recent: Writes,
    older: Writes,
    /// Keys and values in `recent` and `older`.
    recent_bytes: usize,
    older_bytes: usize,
    /// Bytes (keys + values) per generation; 0 disables the cache.
    generation_bytes: usize,
}

impl WriteBack {
    /// The buffered value of `key`, newest layer first; `None` when no layer has it.
    pub(super) fn get(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.open
            .get(key)
            .or_else(|| self.sealed.get(key))
            .or_else(|| self.recent.get(key))
            .or_else(|| self.older.get(key))
    }

    pub(super) fn with_cache(generation_bytes: usize) -> WriteBack {
        WriteBack {
            generation_bytes,
            ..WriteBack::default()
        }
    }

    pub(super) fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.open.insert(key, value);
    }

    /// Writes in the open layer.
    pub(super) fn open_len(&self) -> usize {
        self.open.len()
    }

    /// Freezes the open layer as the sealed one and returns it. A previous sealed layer that was never
    /// written is kept underneath (the newer writes win), so nothing is lost if a caller seals twice.
    pub(super) fn seal(&mut self) -> Arc<Writes> {
        let open = std::mem::take(&mut self.open);
        let sealed = if self.sealed.is_empty() {
            open
        } else {
            let mut merged = (*self.sealed).clone();
            merged.extend(open);
            merged
        };
        self.sealed = Arc::new(sealed);
        Arc::clone(&self.sealed)
    }

    /// The sealed layer is in RocksDB now: reads find it there.
    pub(super) fn mark_sealed_written(&mut self) {
        let sealed = std::mem::take(&mut self.sealed);
        if self.generation_bytes == 0 {
            return;
        }
        match Arc::try_unwrap(sealed) {
            Ok(writes) => {
                for (k, v) in writes {
                    self.recent_bytes += k.len() + v.as_ref().map_or(0, Vec::len);
                    self.recent.insert(k, v);
                }
                if self.recent_bytes > self.generation_bytes {
                    self.older = std::mem::take(&mut self.recent);
                    self.older_bytes = std::mem::take(&mut self.recent_bytes);
                }
            }
            // Still shared (not expected): the cache might now hold older values of its keys, so drop it.
            Err(_) => {
                self.recent.clear();
                self.older.clear();
                self.recent_bytes = 0;
                self.older_bytes = 0;
            }
        }
    }

    /// Approximate heap bytes the read cache holds: its keys and values plus its hash tables' slots. The
    /// generation budget counts only keys and values, so this is what memory accounting should use.
    pub(super) fn cache_bytes(&self) -> u64 {
        // A slot holds the key's and the value's vectors and one control byte; capacity, not length,
        // because the table does not shrink when a generation is replaced by a smaller one.
        const SLOT: usize = std::mem::size_of::<(Vec<u8>, Option<Vec<u8>>)>() + 1;
        let slots = self.recent.capacity() + self.older.capacity();
        (self.recent_bytes + self.older_bytes + slots * SLOT) as u64
    }
}

/// A sealed layer on its way to RocksDB: one atomic batch with the position it brings the state to. It can be
/// written from any thread.
pub struct SealedBatch {
    pub(super) db: Arc<DB>,
    pub(super) dir: PathBuf,
    pub(super) writes: Arc<Writes>,
    pub(super) position: StatePosition,
}

impl SealedBatch {
    /// Writes the batch. Call only after the transaction it belongs to committed.
    pub fn write(&self) -> Result<(), StateError> {
        let mut batch = WriteBatch::default();
        // In key order: each memtable insert then starts its skiplist search from the previous one.
        let mut writes: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = self.writes.iter().collect();
        writes.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (key, value) in writes {
            match value {
                Some(v) => batch.put(key, v),
                None => batch.delete(key),
            }
        }
        batch.put(POSITION_KEY, self.position.encode());
        let mut opts = WriteOptions::default();
        opts.disable_wal(true);
        self.db
            .write_opt(batch, &opts)
            .map_err(|source| StateError::Rocks {
                dir: self.dir.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_cache_keeps_the_newest_committed_value_over_two_generations() {
        let mut wb = WriteBack::with_cache(8);
        wb.put(b"a".to_vec(), Some(b"1".to_vec()));
        drop(wb.seal());
        wb.mark_sealed_written();
        assert_eq!(
            wb.get(b"a"),
            Some(&Some(b"1".to_vec())),
            "cached after the write"
        );
        wb.put(b"a".to_vec(), None);
        wb.put(b"bb".to_vec(), Some(b"22".to_vec()));
        drop(wb.seal());
        wb.mark_sealed_written();
        // 2 + 1 + 4 bytes: still within the budget of 8; the delete is cached too.
        assert_eq!(wb.get(b"a"), Some(&None));
        wb.put(b"cc".to_vec(), Some(b"3".to_vec()));
        drop(wb.seal());
        wb.mark_sealed_written();
        // 10 bytes: the generation became the older one.
        assert_eq!(
            wb.get(b"bb"),
            Some(&Some(b"22".to_vec())),
            "older generation"
        );
        wb.put(b"dddd".to_vec(), Some(b"44444".to_vec()));
        drop(wb.seal());
        wb.mark_sealed_written();
        assert_eq!(
            wb.get(b"bb"),
            None,
            "two rotations later it is only in RocksDB"
        );
        assert_eq!(wb.get(b"dddd"), Some(&Some(b"44444".to_vec())));
    }

    #[test]
    fn cache_bytes_count_both_generations_and_drop_with_them() {
        let mut wb = WriteBack::with_cache(8);
        assert_eq!(wb.cache_bytes(), 0);
        fn write(wb: &mut WriteBack, k: &[u8], v: &[u8]) {
            wb.put(k.to_vec(), Some(v.to_vec()));
            drop(wb.seal());
            wb.mark_sealed_written();
        }
        write(&mut wb, b"aaaa", b"11111");
        // 9 bytes: over the budget, so they moved to the older generation; still counted.
        let one = wb.cache_bytes();
        assert!(one >= 9, "{one}");
        write(&mut wb, b"b", b"2");
        assert!(wb.cache_bytes() > one, "both generations count");
        write(&mut wb, b"cccccc", b"333");
        write(&mut wb, b"dddddd", b"444");
        // Two rotations later "aaaa" has gone, and so have its bytes: only "dddddd" (9 bytes) is left.
        assert_eq!(wb.get(b"aaaa"), None);
        assert_eq!(wb.get(b"b"), None);
        let last = wb.cache_bytes();
        assert!(
            (9..one + 64).contains(&last),
            "{last} (one entry was {one})"
        );
        assert_eq!(WriteBack::default().cache_bytes(), 0, "no cache, no bytes");
    }

    #[test]
    fn a_still_shared_sealed_layer_empties_the_cache_rather_than_leave_stale_values() {
        let mut wb = WriteBack::with_cache(1 << 20);
        wb.put(b"a".to_vec(), Some(b"1".to_vec()));
        drop(wb.seal());
        wb.mark_sealed_written();
        wb.put(b"a".to_vec(), Some(b"2".to_vec()));
        let held = wb.seal();
        wb.mark_sealed_written();
        assert_eq!(wb.get(b"a"), None, "read from RocksDB, never the stale 1");
        drop(held);
    }

    #[test]
    fn newest_layer_answers_and_an_unwritten_seal_is_kept_underneath() {
        let mut wb = WriteBack::default();
        wb.put(b"a".to_vec(), Some(b"1".to_vec()));
        wb.put(b"b".to_vec(), Some(b"1".to_vec()));
        let first = wb.seal();
        assert_eq!(first.len(), 2);
        assert_eq!(wb.open_len(), 0);
        wb.put(b"a".to_vec(), None);
        assert_eq!(wb.get(b"a"), Some(&None));
        assert_eq!(wb.get(b"b"), Some(&Some(b"1".to_vec())));
        assert_eq!(wb.get(b"c"), None);
        // Sealed again before the first batch was written: both layers' writes travel together.
        let merged = wb.seal();
        assert_eq!(merged.get(b"a".as_slice()), Some(&None));
        assert_eq!(merged.get(b"b".as_slice()), Some(&Some(b"1".to_vec())));
        wb.mark_sealed_written();
        assert_eq!(wb.get(b"b"), None, "a written layer is dropped");
        wb.put(b"c".to_vec(), Some(b"2".to_vec()));
        assert_eq!(wb.seal().len(), 1);
    }
}
