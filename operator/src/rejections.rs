//! Pods the API server refused, remembered per StreamJob between reconciles. A refusal happens in the apply
//! stage, after the status is written; the next reconcile's decide reads it from here and reports it as the
//! `Degraded` condition. Kept in memory only: a new leader simply meets the refusal again on its first try.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::reconcile::PodRejection;

/// Job UID → the latest refusal of one of its pods.
#[derive(Default)]
pub struct Rejections(Mutex<BTreeMap<String, PodRejection>>);

impl Rejections {
    pub fn get(&self, job_uid: &str) -> Option<PodRejection> {
        self.0.lock().ok()?.get(job_uid).cloned()
    }

    /// Records `rejection`; true when it differs from what was recorded (worth an Event).
    pub fn remember(&self, job_uid: &str, rejection: PodRejection) -> bool {
        let Ok(mut map) = self.0.lock() else {
            return true;
        };
        map.insert(job_uid.to_string(), rejection.clone()) != Some(rejection)
    }

    pub fn forget(&self, job_uid: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(job_uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(message: &str) -> PodRejection {
        PodRejection {
            pod: "fraud-worker-0".into(),
            reason: "Forbidden".into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_repeated_refusal_is_not_news_and_forgetting_clears_it() {
        let r = Rejections::default();
        assert!(r.remember("uid-1", rejection("violates PodSecurity")));
        assert!(!r.remember("uid-1", rejection("violates PodSecurity")));
        assert!(r.remember("uid-1", rejection("exceeded quota")));
        assert_eq!(r.get("uid-1"), Some(rejection("exceeded quota")));
        assert_eq!(r.get("uid-2"), None);
        r.forget("uid-1");
        assert_eq!(r.get("uid-1"), None);
    }
}
