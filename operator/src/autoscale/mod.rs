//! The autoscaler: parallelism from arrival rate, lag and busy time, configured by the
//! `sluice.dev/autoscale*` annotations. Pure: no I/O and no clock; the reconciler feeds it samples and the
//! time, and executes a [`Verdict::Scale`] by setting `spec.parallelism` (a savepoint upgrade).
//!
//! Modules: [`config`] (annotations → settings, every problem named), [`sample`] (one scrape of the workers), [`metrics`] (the
//! sliding window), [`sizing`] (rates → aligned worker count), [`stabilize`] (stabilization windows), [`evaluate`]
//! (gates + the [`Autoscaler`] of one job and its [`Verdict`]), [`explain`] (messages and status figures),
//! [`status`] (`status.autoscaler` and Events), [`recommend`] (one reconcile's [`recommend::Recommendation`]
//! from all of them). The algorithm is described in `docs/autoscaler.md`.
//!
//! Per reconcile of a job: `crate::rescale::Autoscalers::recommend` runs [`recommend::recommend`] on the
//! job's in-memory [`Autoscaler`] before the decide stage; `decide` folds the recommendation into the status
//! it writes (`crate::decide::autoscaling`); the controller patches `spec.parallelism` after apply.

pub mod config;
pub mod evaluate;
pub mod explain;
pub mod metrics;
pub mod recommend;
pub mod sample;
pub mod sizing;
pub mod stabilize;
pub mod status;

#[cfg(test)]
mod evaluate_tests;
#[cfg(test)]
mod props;

pub use config::{AutoscaleConfig, ConfigErrors};
pub use evaluate::{Autoscaler, JobView, Verdict};
pub use metrics::{MetricsWindow, PartitionSample, Sample, WorkerSample};
