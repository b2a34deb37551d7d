//! Crash points for the crash tests: `SLUICE_FAILPOINT=<name>:<n>` makes the process abort (no destructors,
//! no flushes — like SIGKILL) the `n`-th time execution reaches failpoint `<name>`. Unset, a failpoint costs
//! one relaxed atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every named crash point, so tests can iterate them and a typo in the env var is caught.
pub const ALL: [&str; 5] = [
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

struct Armed {
    name: String,
    remaining: AtomicU64,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

fn armed() -> &'static Option<Armed> {
    ARMED.get_or_init(|| {
        let spec = std::env::var("SLUICE_FAILPOINT").ok()?;
        let (name, n) = spec.split_once(':')?;
        let n: u64 = n.parse().ok()?;
        if !ALL.contains(&name) && !UPLOAD.contains(&name) && !AUDIT.contains(&name) {
            tracing::error!(
                failpoint = name,
                "unknown failpoint in SLUICE_FAILPOINT; ignoring it"
            );
            return None;
        }
        Some(Armed {
            name: name.to_string(),
            remaining: AtomicU64::new(n.max(1)),
        })
    })
}

/// Aborts the process if failpoint `name` is armed and this is its n-th hit.
pub fn hit(name: &'static str) {
    if let Some(a) = armed()
        && a.name == name
        && a.remaining.fetch_sub(1, Ordering::Relaxed) == 1
    {
        eprintln!("sluice: failpoint {name} reached; aborting");
        std::process::abort();
    }
}
