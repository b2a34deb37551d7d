//! The operator's probes: `/healthz` (the process serves HTTP) and `/readyz` (its StreamJob cache has
//! finished the initial list). Readiness does not depend on leadership: the standby's cache syncs too, so a
//! standby is ready to take over, and `helm install --wait` and the metrics Service see every replica.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::StatusCode;

/// Set once, when the controller's StreamJob store is ready; cheap to clone and read from the probe.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn mark_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// The `/readyz` answer: 200 once ready, 503 (with the reason) before.
    pub fn probe(&self) -> (StatusCode, &'static str) {
        if self.is_ready() {
            (StatusCode::OK, "ok")
        } else {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "StreamJob cache not synced yet",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_until_marked_and_clones_share_the_flag() {
        let r = Readiness::new();
        let probe = r.clone();
        assert_eq!(probe.probe().0, StatusCode::SERVICE_UNAVAILABLE);
        r.mark_ready();
        assert_eq!(probe.probe(), (StatusCode::OK, "ok"));
    }
}
