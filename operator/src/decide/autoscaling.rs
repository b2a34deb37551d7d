//! The autoscaler's recommendation (an observation, made by `crate::rescale` before this stage) folded into
//! the decided status: `status.autoscaler`, the `Autoscaling` condition, its Event, a shorter requeue while
//! it samples, and the rescale the controller executes after apply.

use super::conditions::upsert;
use super::context::Ctx;
use crate::reconcile::Severity;

/// Condition type saying whether autoscaling is on, off, or paused by an invalid annotation (named in its
/// message). Present only on jobs that have (or had) `sluice.dev/autoscale*` annotations.
pub const AUTOSCALING_CONDITION: &str = "Autoscaling";

pub fn fold(cx: &mut Ctx) {
    let Some(rec) = cx.obs.autoscaler.clone() else {
        return;
    };
    cx.st.autoscaler = Some(rec.status);
    let (ok, reason, message) = rec.condition;
    let now = cx.now();
    let generation = Some(cx.obs.generation);
    upsert(
        &mut cx.st.conditions,
        AUTOSCALING_CONDITION,
        ok,
        reason,
        message,
        now,
        generation,
    );
    if let Some(e) = rec.event {
        let severity = if e.warning {
            Severity::Warning
        } else {
            Severity::Normal
        };
        cx.event(severity, e.reason, e.note);
    }
    if let Some(every) = rec.sample_every {
        cx.requeue(every.as_secs());
    }
    cx.rescale = rec.scale;
}
