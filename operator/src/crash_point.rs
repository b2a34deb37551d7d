//! Crash points for the fault-campaign tests: with `SLUICE_OPERATOR_CRASH_AFTER=<upgrade step>:<marker file>`
//! (several comma-separated) the operator aborts (like a SIGKILL: no Lease release, no cleanup) right after it has persisted that
//! upgrade step in the job's status — once per marker file: the first process to get there creates the
//! marker and dies, the replica that takes over carries on. This is how a test kills the leader *during*
//! each upgrade phase, even phases that last only milliseconds. Unset, it costs one environment lookup.

use std::sync::OnceLock;

use sluice_crds::StreamJobStatus;

struct Armed {
    step: String,
    marker: std::path::PathBuf,
}

fn armed() -> &'static [Armed] {
    static ARMED: OnceLock<Vec<Armed>> = OnceLock::new();
    ARMED.get_or_init(|| {
        let spec = std::env::var("SLUICE_OPERATOR_CRASH_AFTER").unwrap_or_default();
        spec.split(',')
            .filter_map(|one| one.split_once(':'))
            .map(|(step, marker)| Armed {
                step: step.trim().to_string(),
                marker: marker.trim().into(),
            })
            .collect()
    })
}

/// Call right after `status` was persisted.
pub fn after_persisting(status: &StreamJobStatus) {
    let Some(step) = status.upgrade.as_ref().map(|u| u.step.name()) else {
        return;
    };
    let Some(a) = armed().iter().find(|a| a.step == step) else {
        return;
    };
    // `create_new` makes the claim atomic between the operator processes sharing the marker.
    if std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&a.marker)
        .is_ok()
    {
        tracing::error!(step, "crash point reached; aborting");
        std::process::abort();
    }
}
