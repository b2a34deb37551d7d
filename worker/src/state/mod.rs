//! Keyed state: one RocksDB instance per input partition, and local checkpoints of it.

pub mod bulk;
pub mod capture;
pub mod checkpoint;
pub mod memory;
pub mod position;
pub mod rocks;
pub mod write_back;

pub use capture::{Captured, DbHandle};
pub use checkpoint::{CheckpointMeta, LocalCheckpoints};
pub use memory::{BlockCacheUsage, PartitionMemory};
pub use position::StatePosition;
pub use rocks::{PartitionDb, RocksResources, StateError};
pub use write_back::SealedBatch;
