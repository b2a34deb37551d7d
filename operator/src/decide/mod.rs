//! Stage 3 of the reconcile, **pure**: observed world + the validated spec (or its problems) → new status +
//! ordered actions + Events. No I/O, no clock (time is `Observed::now`), so every transition is unit-tested
//! without a cluster (`tests.rs`). The spec's deployable values come typed from `validate`; the specs the
//! status stored (`lastReconciledSpec`, `lastStableSpec`) are read back once, into [`Ctx`].
//!
//! Order of concerns: job figures → crash accounting → FAILED handling → the in-flight upgrade (one edge per
//! reconcile, see [`upgrade`]) or starting one → steady state (recreate lost pods with backoff, readiness,
//! STABLE) → manual savepoints/checkpoints → savepoint retention → lifecycle and conditions → the
//! autoscaler's recommendation.
//!
//! Module layering (no module imports one that imports it back): `context` and `pod_trouble` at the
//! bottom; `pods`, `restarts` and `savepoints` on them; `steady` and `upgrade` on
//! those; `conditions` reads the outcome; this module orders the stages.

pub mod autoscaling;
pub mod conditions;
pub mod context;
pub mod pod_trouble;
pub mod pods;
pub mod restarts;
pub mod savepoints;
pub mod steady;
pub mod upgrade;

#[cfg(test)]
mod disruption_tests;
#[cfg(test)]
mod failed_restart_tests;
#[cfg(test)]
mod pod_trouble_tests;
#[cfg(test)]
mod redeploy_tests;
#[cfg(test)]
mod restart_tests;
#[cfg(test)]
mod running_savepoint_tests;
#[cfg(test)]
mod savepoint_tests;
#[cfg(test)]
mod spec_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod upgrade_tests;

use sluice_crds::UpgradeStep;

pub use context::{Ctx, ts};

use crate::naming;
use crate::reconcile::{Observed, Plan};
use crate::validate::Validation;

/// Whether container restarts count against `restartPolicy.maxRestarts` now. During a rollout they do
/// not: the readiness timeout judges it, and a rollback follows. Once a deployment has missed that timeout
/// with no rollback possible (a first deployment, or rollback disabled) it is judged by the restart budget
/// like a running job, so a crash-looping job reaches FAILED (and `restartFailed`'s backoff) instead of
/// looping for ever.
fn counts_restarts(cx: &Ctx) -> bool {
    match cx.st.upgrade.as_ref().map(|u| &u.step) {
        None => true,
        Some(UpgradeStep::Deploying { since, .. }) => {
            cx.past_readiness_timeout(since) && !pods::rollback_possible(cx)
        }
        Some(_) => false,
    }
}

/// The decide step: `validation` is the outcome of validating `obs.spec`.
pub fn decide(obs: &Observed, validation: &Validation) -> Plan {
    let mut cx = Ctx::new(obs, validation);
    cx.st.selector = Some(naming::selector_string(&obs.name));
    savepoints::figures(&mut cx);
    if cx.st.restarts.failure.is_none() {
        let count = counts_restarts(&cx);
        restarts::account_restarts(&mut cx, count);
        if cx.st.restarts.failure.is_some() {
            // A rollout that failed is over: leaving FAILED starts a new one.
            upgrade::machine::abandon_for_failure(&mut cx);
        }
    }
    if cx.st.restarts.failure.is_some() {
        if restarts::while_failed(&mut cx) {
            upgrade::restart_from_failed(&mut cx);
        }
    } else if let Some(up) = cx.st.upgrade.clone() {
        upgrade::step(&mut cx, &up);
    } else if !upgrade::maybe_start(&mut cx) {
        steady::run(&mut cx);
    }
    if cx.st.upgrade.is_none() && cx.st.restarts.failure.is_none() {
        savepoints::while_running(&mut cx);
    }
    savepoints::retention(&mut cx);
    conditions::update(&mut cx);
    autoscaling::fold(&mut cx);
    cx.record_warnings();
    cx.st.observed_generation = Some(obs.generation);
    cx.finish()
}
