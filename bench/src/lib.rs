//! The benchmark harness (`sluice-bench`). `run`: Sluice's worker against the physical ceiling — a bare rdkafka
//! consume→produce transactional identity pipe — and against the same job on Apache Flink
//! (`bench/flink-fraud`), on the same broker, the same pre-loaded topics, in one run. `checkpoint`: durable
//! checkpoint pause, duration and uploaded bytes, and recovery times, at a given state size. `soak`: an hour
//! of load with kills, for RSS, lag and checkpoint trends and exactly-once at the end.
//! Results are measurements of this machine; nothing here asserts speed.

pub mod checkpoint;
pub mod checkpoint_input;
pub mod checkpoint_measure;
pub mod checkpoint_report;
pub mod commit_probe;
pub mod compare;
pub mod completeness;
pub mod disk;
pub mod flink;
pub mod kill_restart;
pub mod latency;
pub mod phases;
pub mod pipe;
pub mod plot;
pub mod preload;
pub mod procstat;
pub mod prom;
pub mod recovery;
pub mod setup;
pub mod soak;
pub mod soak_report;
mod soak_slot;
mod soak_store;
pub mod stats;
pub mod systems;
pub mod throughput;
pub mod throughput_drain;
pub mod throughput_report;
pub mod timeline;
