//! What a worker's state holds in memory, by holder, so its RSS can be told apart into caches that fill up to
//! a budget (and then stay there) and everything else — where a leak would show.
//!
//! - The block cache is shared by every partition of the worker; the memtables are charged to it as well
//!   (see `RocksResources::new`), so its usage already contains them.
//! - The memtables and the table readers (index and filter blocks not held in the cache) are per partition.
//! - The read cache (`write_back.rs`) is per partition and lives outside RocksDB.

use rocksdb::DB;

/// RocksDB property: bytes of the active and immutable memtables.
pub(super) const MEMTABLES: &str = "rocksdb.cur-size-all-mem-tables";
/// RocksDB property: bytes of the table readers outside the block cache.
const TABLE_READERS: &str = "rocksdb.estimate-table-readers-mem";

/// One partition's share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionMemory {
    /// Memtables (already counted in the shared block cache's usage).
    pub memtables: u64,
    /// Table readers outside the block cache.
    pub table_readers: u64,
    /// The read cache of recently committed state: keys, values and hash-table slots.
    pub read_cache: u64,
}

/// The worker's shared block cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockCacheUsage {
    /// Bytes in the cache, memtable charges included.
    pub usage: u64,
    /// Bytes of entries in use right now (they cannot be evicted).
    pub pinned: u64,
}

/// An integer property of `db`; 0 when RocksDB does not report it (metrics only, never a decision).
pub(super) fn int_property(db: &DB, name: &str) -> u64 {
    db.property_int_value(name).ok().flatten().unwrap_or(0)
}

pub(super) fn partition_memory(db: &DB, read_cache: u64) -> PartitionMemory {
    PartitionMemory {
        memtables: int_property(db, MEMTABLES),
        table_readers: int_property(db, TABLE_READERS),
        read_cache,
    }
}
