//! The answers of stop-with-savepoint calls, remembered per StreamJob between reconciles. The apply stage
//! makes the calls after the status is written; the next reconcile's decide reads the answers from here as
//! observations and takes the upgrade's next edge from them (the same way it reads the workers' reported
//! savepoints). Only the answers for the latest savepoint id are kept. In memory only: a new leader has
//! none, and learns the same from the workers' `/v1/status` and their pods' exit codes.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::reconcile::StopOutcome;

/// Job UID → the answers for its latest stop-with-savepoint.
#[derive(Default)]
pub struct StopOutcomes(Mutex<BTreeMap<String, Vec<StopOutcome>>>);

impl StopOutcomes {
    pub fn get(&self, job_uid: &str) -> Vec<StopOutcome> {
        self.lock().get(job_uid).cloned().unwrap_or_default()
    }

    /// Adds `outcomes` (one savepoint id); answers for another id are dropped, and a worker's newer
    /// answer replaces its older one.
    pub fn record(&self, job_uid: &str, outcomes: Vec<StopOutcome>) {
        let mut map = self.lock();
        let kept = map.entry(job_uid.to_string()).or_default();
        for o in outcomes {
            kept.retain(|k| k.savepoint_id() == o.savepoint_id() && k.pod() != o.pod());
            kept.push(o);
        }
    }

    pub fn forget(&self, job_uid: &str) {
        self.lock().remove(job_uid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<StopOutcome>>> {
        // A poisoned lock only means another reconcile panicked while recording; the answers are whole.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed(id: &str, pod: &str) -> StopOutcome {
        StopOutcome::Completed {
            savepoint_id: id.into(),
            pod: pod.into(),
            location: Some(format!("s3://b/{id}")),
        }
    }

    #[test]
    fn keeps_the_latest_savepoints_answers_one_per_worker() {
        let s = StopOutcomes::default();
        s.record("uid", vec![completed("sp-1", "w-0")]);
        s.record("uid", vec![completed("sp-1", "w-1")]);
        assert_eq!(s.get("uid").len(), 2);
        let failed = StopOutcome::Failed {
            savepoint_id: "sp-1".into(),
            pod: "w-1".into(),
            error: "disk full".into(),
        };
        s.record("uid", vec![failed.clone()]);
        assert_eq!(s.get("uid"), vec![completed("sp-1", "w-0"), failed]);
        s.record("uid", vec![completed("sp-2", "w-0")]);
        assert_eq!(s.get("uid"), vec![completed("sp-2", "w-0")]);
        assert!(s.get("other").is_empty());
        s.forget("uid");
        assert!(s.get("uid").is_empty());
    }
}
