//! The only writer of `status.upgrade`. A state handler returns a [`Transition`]; [`take`] checks that the
//! edge is one of the diagram's (see [`super`]) and writes it, and [`finish`] does what ending an upgrade
//! means for each way it can end. An edge the diagram does not have is refused — the step stays, with a
//! Warning Event — so a handler's mistake shows up in tests and in the job's Events instead of corrupting
//! the persisted state.

use sluice_crds::{BlockedGeneration, UpgradeReason, UpgradeStatus, UpgradeStep};

use crate::decide::context::Ctx;
use crate::reconcile::Severity;

/// What one reconcile does with the in-flight upgrade.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    /// No edge this reconcile.
    Stay,
    /// Move to this step (or record progress within the same step, e.g. one more worker stopped).
    To(UpgradeStep),
    /// The spec changed again before the deployment got Ready: roll out the current generation instead,
    /// from this step.
    Retarget(UpgradeStep),
    /// The upgrade is over.
    End(End),
}

/// How an upgrade ends.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// Every worker of the new deployment is Ready.
    Ready,
    /// Suspend finished: the workers are stopped and removed.
    Suspended,
    /// `lastStableSpec` is Ready again after a rollback.
    RolledBack,
    /// The savepoint could not be taken: the generation is blocked, the previous spec keeps running.
    SavepointFailed(String),
    /// The job is FAILED (already recorded by `restarts::fail`).
    JobFailed,
    /// A rollback found no `lastStableSpec` to go back to.
    NothingToRollBackTo,
}

/// Starts an upgrade. Only from no upgrade, and only into a first step of the diagram.
pub fn begin(cx: &mut Ctx, reason: UpgradeReason, step: UpgradeStep) {
    let first = matches!(
        step,
        UpgradeStep::SavepointRequested { .. } | UpgradeStep::PodsDeleted { .. }
    );
    if let Some(up) = cx.st.upgrade.clone() {
        return refuse(cx, Some(&up.step), step.name());
    }
    if !first {
        return refuse(cx, None, step.name());
    }
    cx.st.upgrade = Some(UpgradeStatus {
        reason,
        mode: cx.obs.spec.upgrade_mode,
        target_generation: cx.obs.generation,
        started_at: cx.now(),
        step,
    });
}

/// Takes `transition` from the in-flight upgrade `up`.
pub fn take(cx: &mut Ctx, up: &UpgradeStatus, transition: Transition) {
    match transition {
        Transition::Stay => {}
        Transition::To(step) if legal(&up.step, &step) => set(cx, up, step, up.target_generation),
        Transition::Retarget(step) if retarget_legal(&up.step, &step) => {
            set(cx, up, step, cx.obs.generation)
        }
        Transition::To(step) | Transition::Retarget(step) => {
            refuse(cx, Some(&up.step), step.name())
        }
        Transition::End(end) if end_legal(&up.step, &end) => finish(cx, up, end),
        Transition::End(end) => refuse(cx, Some(&up.step), &format!("end {end:?}")),
    }
}

/// The job failed outside the upgrade's own steps (the restart budget ran out during a rollout).
pub fn abandon_for_failure(cx: &mut Ctx) {
    if let Some(up) = cx.st.upgrade.clone() {
        take(cx, &up, Transition::End(End::JobFailed));
    }
}

fn set(cx: &mut Ctx, up: &UpgradeStatus, step: UpgradeStep, target_generation: i64) {
    cx.st.upgrade = Some(UpgradeStatus {
        step,
        target_generation,
        ..up.clone()
    });
}

/// The edges of the diagram.
pub fn legal(from: &UpgradeStep, to: &UpgradeStep) -> bool {
    use UpgradeStep as S;
    match (from, to) {
        (
            S::SavepointRequested {
                savepoint_id: a, ..
            },
            S::SavepointRequested {
                savepoint_id: b, ..
            },
        ) => a == b,
        (
            S::RollingBack {
                deployed: false, ..
            },
            S::RollingBack { deployed: true, .. },
        ) => true,
        (S::SavepointRequested { .. }, S::SavepointTaken { .. })
        | (S::SavepointTaken { .. }, S::PodsDeleted { .. })
        | (S::PodsDeleted { .. }, S::Deploying { .. })
        | (
            S::Deploying { .. },
            S::RollingBack {
                deployed: false, ..
            },
        ) => true,
        _ => false,
    }
}

fn retarget_legal(from: &UpgradeStep, to: &UpgradeStep) -> bool {
    matches!(
        (from, to),
        (
            UpgradeStep::Deploying { .. },
            UpgradeStep::PodsDeleted { .. }
        )
    )
}

/// From which step each ending is possible.
pub fn end_legal(from: &UpgradeStep, end: &End) -> bool {
    use UpgradeStep as S;
    match end {
        End::Ready => matches!(from, S::Deploying { .. }),
        End::Suspended => matches!(from, S::PodsDeleted { .. }),
        End::RolledBack => matches!(from, S::RollingBack { deployed: true, .. }),
        End::SavepointFailed(_) => matches!(from, S::SavepointRequested { .. }),
        End::JobFailed => matches!(from, S::Deploying { .. } | S::RollingBack { .. }),
        End::NothingToRollBackTo => matches!(
            from,
            S::RollingBack {
                deployed: false,
                ..
            }
        ),
    }
}

/// Refuses an edge (to a step, or to an ending) the diagram does not have: the step stays, the refusal is
/// logged as the bug it is and shown to the user as a Warning Event.
fn refuse(cx: &mut Ctx, from: Option<&UpgradeStep>, to: &str) {
    let from = from.map_or("no upgrade", UpgradeStep::name);
    let note = format!("{from} → {to} is not an edge of the upgrade state machine");
    tracing::error!(job = %cx.obs.name, %note, "refused upgrade transition");
    cx.event(Severity::Warning, "IllegalUpgradeTransition", note);
}

/// Ends the upgrade `up` as `end`: the status, Events and requeue each ending implies.
fn finish(cx: &mut Ctx, up: &UpgradeStatus, end: End) {
    cx.st.upgrade = None;
    match end {
        End::Ready => {
            cx.st.ready_since = Some(cx.now());
            let note = format!(
                "generation {}: all {} workers ready",
                up.target_generation,
                cx.deployed_parallelism()
            );
            cx.event(Severity::Normal, "DeploymentReady", note);
            cx.requeue(cx.obs.spec.rollback.stable_after.0.div_ceil(1000));
        }
        End::RolledBack => {
            cx.st.ready_since = Some(cx.now());
            cx.event(
                Severity::Warning,
                "RolledBack",
                "lastStableSpec is Ready again",
            );
        }
        End::Suspended => {
            cx.st.deployed_hash = None;
            cx.st.parallelism = Some(0);
            cx.st.ready_since = None;
            cx.event(Severity::Normal, "Suspended", "workers stopped and removed");
        }
        End::SavepointFailed(message) => savepoint_failed(cx, up, message),
        End::JobFailed | End::NothingToRollBackTo => {}
    }
}

/// The savepoint failed: block the target generation; the old spec keeps (or comes back to) running.
fn savepoint_failed(cx: &mut Ctx, up: &UpgradeStatus, message: String) {
    cx.event(
        Severity::Warning,
        "SavepointFailed",
        format!(
            "{message}; the job keeps running generation {}'s predecessor",
            up.target_generation
        ),
    );
    cx.st.blocked_generation = Some(BlockedGeneration {
        generation: up.target_generation,
        reason: "SavepointFailed".into(),
        message: format!(
            "{message}; the previous spec keeps running. Change the spec (or bump restartNonce) to retry"
        ),
    });
    cx.requeue(1);
}
