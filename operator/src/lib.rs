//! The Sluice operator: reconciles `StreamJob`s into worker pods.
//!
//! Reconcile stages (one module each): `fetch` (I/O: the job's pods, referenced objects, worker statuses) →
//! `validate` (pure: the typed `ValidatedJob`, or the spec's problems naming fields) → `decide` (pure:
//! status + actions) → `build` (pure: each deployment's objects) → `apply` (I/O: status first, then the
//! steps via server-side apply and the worker control API). `reconcile` holds the data between the stages
//! (what was observed, the decision and its actions); `fingerprint` says what makes two deployments
//! different. `controller` wires them into a kube-runtime Controller gated by the `lease`; `rescale` keeps
//! each job's `autoscale` window, hands its recommendation to `decide`, and executes its rescales.

pub mod apply;
pub mod autoscale;
pub mod build;
pub mod control_tls;
pub mod controller;
pub mod crash_point;
pub mod decide;
pub mod error;
pub mod events;
pub mod fetch;
pub mod fingerprint;
pub mod health;
pub mod job_metrics;
pub mod lease;
pub mod metrics;
pub mod naming;
pub mod pod_health;
pub mod reconcile;
pub mod rejections;
pub mod rescale;
pub mod saturating;
pub mod stop_outcomes;
pub mod store;
pub mod validate;
pub mod worker_client;
