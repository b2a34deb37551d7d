//! `SavepointTaken`: every worker stopped with the savepoint; delete the old pods and restore from it.

use sluice_crds::UpgradeStep;

use super::machine::Transition;
use crate::decide::context::Ctx;

pub fn decide(cx: &mut Ctx, location: Option<String>) -> Transition {
    cx.delete_live_pods();
    cx.requeue(2);
    Transition::To(UpgradeStep::PodsDeleted {
        restore_from: location,
    })
}
