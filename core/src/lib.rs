//! Sluice core: the pure, deterministic heart of the stream processor.
//!
//! Decoding and validation ([`event`]), the scoring model ([`model`]), per-card state
//! ([`card_state`]) and features ([`features`]), the per-partition processing function
//! ([`processor`]), the recorded input interleaving for replay ([`progress`]) and an independent
//! reference implementation ([`oracle`]).
//!
//! No I/O, no clocks, no randomness, no hash-order iteration: every output is a pure function of
//! the inputs, which is what makes exactly-once replay and audit reconstruction possible. Kafka,
//! RocksDB and Kubernetes live in the `sluice-worker` and operator crates.

pub mod card_state;
pub mod codec;
pub mod event;
pub mod features;
pub mod hex;
pub mod model;
pub mod oracle;
pub mod processor;
pub mod progress;

#[cfg(test)]
mod testkit;

pub use codec::StateDecodeError;
