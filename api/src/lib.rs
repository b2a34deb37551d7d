//! The contracts between Sluice's parts, written once and free of Kubernetes: the worker's job
//! configuration and its validation, the environment the operator gives a worker pod, the control API's
//! messages and routes (and, with feature `client`, its one client — the only I/O here), object-store URIs,
//! where snapshots live in a store and their manifests, the crash points the tests arm, partition
//! assignment, the container's termination message, secret handling and human durations. The worker and
//! the CLI link this; the operator gets it through `sluice-crds` too, which adds the `StreamJob` CRD.

pub mod assignment;
pub mod audit;
pub mod control;
#[cfg(feature = "client")]
pub mod control_client;
pub mod control_oidc;
pub mod crash_point;
pub mod duration;
pub mod job_config;
pub mod kafka_security;
pub mod manifest;
pub mod secrets;
pub mod snapshot_layout;
pub mod store_uri;
pub mod termination;
pub mod worker_env;
pub mod worker_names;

pub use duration::Millis;
pub use job_config::{ConfigError, JobConfig};
pub use store_uri::StoreUri;
