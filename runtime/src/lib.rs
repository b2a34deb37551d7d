//! The Sluice runtime: the Kafka worker (`sluice-worker`), the embedded local mode and the CLI (`sluice`).

pub mod generator;
pub mod kafka;
pub mod local;
pub mod logging;
pub mod produce;
pub mod state;
pub mod verify;
pub mod worker;
