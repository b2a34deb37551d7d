//! The contracts between Sluice's parts, written once and free of Kubernetes: the worker's job
//! configuration and its validation, the environment the operator gives a worker pod, the control API's
//! messages and routes, the snapshot manifest layout, partition assignment, secret handling and human
//! durations. The worker and the CLI link only this; the operator gets it through `sluice-crds`, which adds
//! the `StreamJob` CRD. Pure types and validation; no I/O.

pub mod assignment;
pub mod audit;
pub mod control;
#[cfg(feature = "client")]
pub mod control_client;
pub mod crash_point;
pub mod duration;
pub mod job_config;
pub mod manifest;
pub mod secrets;
pub mod store_uri;
pub mod worker_env;

pub use duration::Millis;
pub use job_config::{ConfigError, JobConfig};
pub use store_uri::StoreUri;
