//! The upgrade state machine (savepoint / last-state / stateless upgrades, suspend, rollback, the restart
//! that leaves FAILED). Each reconcile takes at most one edge, and the new step is persisted in
//! `status.upgrade` *before* the actions it implies run, so a crash at any point resumes at the same step:
//!
//! ```text
//! (start, savepoint mode) ─► SavepointRequested{id} ─► SavepointTaken{location} ─► PodsDeleted{restoreFrom}
//! (start, last-state/stateless, restart) ─────────────────────────────────────────► PodsDeleted{restoreFrom}
//! PodsDeleted ─► end: Suspended (suspend)
//!             └► Deploying{restoreFrom, since} ─► end: Ready
//!                  │  └► (spec changed again) retarget ─► PodsDeleted
//!                  └► RollingBack{deployed: false} ─► RollingBack{deployed: true} ─► end: RolledBack | JobFailed
//! SavepointRequested ─► end: SavepointFailed (failed, crashed, vanished, timed out): the generation is
//!                       blocked and the old spec keeps running
//! ```
//!
//! One file per state, each a function from the observations to a [`Transition`] plus the actions and
//! Events that go with it; none of them writes `status.upgrade` — [`machine`] does, and refuses edges that
//! are not in the diagram. What I/O learns (a stop call's answer) comes back as an observation on the next
//! reconcile.

mod deploying;
pub mod machine;
mod pods_deleted;
mod redeploy;
mod rolling_back;
mod savepoint_requested;
mod savepoint_taken;
mod start;

#[cfg(test)]
mod machine_tests;

use sluice_crds::{UpgradeStatus, UpgradeStep};

use crate::decide::context::Ctx;
pub use machine::{End, Transition};
pub use redeploy::requested as redeploy_requested;
pub use start::{maybe_start, restart_from_failed};

/// Takes at most one edge of the state machine for the in-flight upgrade `up`.
pub fn step(cx: &mut Ctx, up: &UpgradeStatus) {
    let transition = match &up.step {
        UpgradeStep::SavepointRequested {
            savepoint_id,
            stopped,
            location,
        } => {
            let req = savepoint_requested::Requested {
                id: savepoint_id,
                stopped,
                location: location.clone(),
            };
            savepoint_requested::decide(cx, up, req)
        }
        UpgradeStep::SavepointTaken { location } => savepoint_taken::decide(cx, location.clone()),
        UpgradeStep::PodsDeleted { restore_from } => {
            pods_deleted::decide(cx, up, restore_from.clone())
        }
        UpgradeStep::Deploying {
            restore_from,
            since,
        } => deploying::decide(cx, up, restore_from.clone(), since),
        UpgradeStep::RollingBack {
            restore_from,
            deployed,
            since,
        } => rolling_back::decide(cx, restore_from.clone(), *deployed, since),
    };
    machine::take(cx, up, transition);
}
