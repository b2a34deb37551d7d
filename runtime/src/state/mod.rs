//! Keyed state: one RocksDB instance per input partition, and local checkpoints of it.

pub mod checkpoint;
pub mod rocks;

pub use checkpoint::{CheckpointMeta, LocalCheckpoints};
pub use rocks::{PartitionDb, RocksResources, StateError};
