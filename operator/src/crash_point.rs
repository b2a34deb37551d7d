//! The operator's crash points for the fault-campaign tests (the mechanism is `sluice_api::crash_point`):
//! `persisted_<upgrade step>` is reached right after the operator has persisted that upgrade step in the
//! job's status. Armed with a marker file (`SLUICE_CRASH_AT=persisted_Deploying@/tmp/m`), the first operator
//! process to get there dies like a SIGKILL (no Lease release, no cleanup) and the replica that takes over
//! carries on — how a test kills the leader *during* each upgrade phase, even phases that last milliseconds.

use sluice_crds::crash_point;
use sluice_crds::{StreamJobStatus, UpgradeStep};

/// The crash point reached when `step` has been persisted.
pub fn persisted(step: &str) -> String {
    format!("persisted_{step}")
}

/// Call right after `status` was persisted.
pub fn after_persisting(status: &StreamJobStatus) {
    if let Some(upgrade) = &status.upgrade {
        crash_point::reach(&persisted(upgrade.step.name()));
    }
}

/// Logs every entry of `SLUICE_CRASH_AT` that names no operator point: a typo would otherwise never fire.
pub fn report_unknown() {
    let known: Vec<String> = UpgradeStep::NAMES.iter().map(|s| persisted(s)).collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    for entry in crash_point::unknown_points(&known) {
        tracing::error!(
            entry,
            "unknown crash point in {}; it will never fire",
            crash_point::ENV
        );
    }
}
