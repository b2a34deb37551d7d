//! The benchmark harness (`sluice-bench`): Sluice's worker against the physical ceiling — a bare rdkafka
//! consume→produce transactional identity pipe — and against the same job on Apache Flink
//! (`e2e/bench/flink-fraud`), on the same broker, the same pre-loaded topics, in one run.
//! Results are measurements of this machine; nothing here asserts speed.

pub mod compare;
pub mod flink;
pub mod pipe;
pub mod procstat;
pub mod stats;
