//! The worker's crash points (the mechanism is `sluice_api::crash_point`: `SLUICE_CRASH_AT=<point>[:<n>]`).
//! A module at the crate's root so every layer — the commit loop, snapshots, the audit sink — reaches its
//! points without importing upward.

pub use sluice_api::crash_point::reach;

/// The points of the processing and commit path, each reached by every worker that processes records.
pub const PROCESSING: [&str; 5] = [
    "before_produce",
    "after_produce_before_commit",
    "after_commit_before_checkpoint",
    "during_checkpoint",
    "during_replay",
];

/// Crash points of the checkpoint upload, reached only when a checkpoint store is configured.
pub const UPLOAD: [&str; 1] = ["before_manifest"];

/// Crash points of the audit table append, reached only when `audit` is configured.
pub const AUDIT: [&str; 2] = ["before_audit_commit", "after_audit_commit"];

/// Logs every entry of `SLUICE_CRASH_AT` that names no worker point: a typo would otherwise never fire.
pub fn report_unknown() {
    let known: Vec<&str> = PROCESSING
        .iter()
        .chain(&UPLOAD)
        .chain(&AUDIT)
        .copied()
        .collect();
    for entry in sluice_api::crash_point::unknown_points(&known) {
        tracing::error!(
            entry,
            "unknown crash point in {}; it will never fire",
            sluice_api::crash_point::ENV
        );
    }
}
