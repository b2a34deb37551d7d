//! The autoscaler (issue 7): parallelism from arrival rate, lag and busy time, configured by the
//! `sluice.dev/autoscale*` annotations. Pure: no I/O and no clock; the reconciler feeds it samples and the
//! time, and executes a [`Decision::Scale`] by setting `spec.parallelism` (a savepoint upgrade).
//!
//! Modules: [`config`] (annotations → settings, every problem named), [`metrics`] (samples and the sliding
//! window), [`sizing`] (rates → aligned worker count), [`stabilize`] (stabilization windows), [`decide`]
//! (gates + the [`Autoscaler`] of one job), [`explain`] (messages and status figures), [`status`]
//! (`status.autoscaler` and Events). The algorithm is described in `docs/autoscaler.md`.
//!
//! Wiring, per reconcile of a job:
//! ```text
//! let cfg = autoscale::config::parse(job.annotations());
//! let scaler = scalers.entry(job_key).or_default();             // one Autoscaler per job, in memory
//! if let Ok(c) = &cfg { scaler.observe(Sample::from_statuses(now_ms, statuses), c); }
//! let decision = scaler.evaluate(&cfg, &JobView { .. }, now_ms);
//! status.autoscaler = Some(autoscale::status::next_status(prev, &cfg, &decision, now_ms));
//! if let Some(e) = autoscale::status::event(prev, &decision) { /* record Event */ }
//! if let Some(to) = decision.scale_to() { /* patch spec.parallelism = to */ }
//! ```

pub mod config;
pub mod decide;
pub mod explain;
pub mod metrics;
pub mod sizing;
pub mod stabilize;
pub mod status;
pub mod step;

#[cfg(test)]
mod decide_tests;
#[cfg(test)]
mod props;

pub use config::{AutoscaleConfig, ConfigErrors};
pub use decide::{Autoscaler, Decision, JobView};
pub use metrics::{MetricsWindow, PartitionSample, Sample, WorkerSample};
