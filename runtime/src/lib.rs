//! The Sluice runtime: the Kafka worker (`sluice-worker`), the embedded local mode and the CLI (`sluice`).

pub mod audit;
pub mod control;
pub mod generator;
pub mod kafka;
pub mod local;
pub mod logging;
pub mod metrics;
pub mod ops;
pub mod produce;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod verify;
pub mod worker;
