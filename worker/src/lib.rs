//! The Sluice worker (`sluice-worker`): consumes the job's Kafka inputs with a task per owned partition,
//! keeps each task's keyed state in RocksDB, writes decisions, alerts and dead letters exactly once through
//! Kafka transactions, snapshots state incrementally to an object store and serves the control API and
//! Prometheus metrics. The `sluice` CLI runs the same worker embedded (local mode) and drives its parts
//! (snapshots, the store, the control API) for operations.

pub mod audit;
pub mod control;
pub mod crash_points;
pub mod kafka;
pub mod logging;
pub mod metrics;
pub mod snapshot;
pub mod state;
pub mod worker;
