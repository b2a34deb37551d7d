//! Names and labels of the objects the operator owns for a StreamJob. Kubernetes names are DNS-1123 labels
//! (≤ 63 characters), so long job names are shortened deterministically rather than rejected by the API
//! server.

use std::collections::BTreeMap;

/// Longest DNS-1123 label.
const MAX_LABEL: usize = 63;

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "sluice-operator";
/// Finalizer guarding the optional final savepoint.
pub const FINALIZER: &str = "sluice.dev/cleanup";
/// Pod annotation: fingerprint of what the pod runs (see `decide::fingerprint`).
pub const HASH_ANNOTATION: &str = "sluice.dev/deploy-hash";
/// Pod label: the worker ordinal.
pub const ORDINAL_LABEL: &str = "sluice.dev/ordinal";
/// Pod label: the job name.
pub const JOB_LABEL: &str = "sluice.dev/job";
/// Pod label: `app.kubernetes.io/name`.
pub const APP_LABEL: &str = "app.kubernetes.io/name";
/// Value of [`APP_LABEL`] on worker pods.
pub const WORKER_APP: &str = "sluice-worker";

fn shorten(job: &str, suffix: &str) -> String {
    let room = MAX_LABEL.saturating_sub(suffix.len());
    let base: String = job.chars().take(room).collect();
    format!("{}{suffix}", base.trim_end_matches('-'))
}

/// The pod name of worker `ordinal` of job `job`: `<job>-worker-<ordinal>`, shortened to fit a label.
pub fn worker_pod_name(job: &str, ordinal: u32) -> String {
    shorten(job, &format!("-worker-{ordinal}"))
}

/// The ordinal of a worker pod name made by [`worker_pod_name`].
pub fn ordinal_of(pod_name: &str) -> Option<u32> {
    pod_name.rsplit_once("-worker-")?.1.parse().ok()
}

/// The job ConfigMap (`job.yaml`).
pub fn config_map_name(job: &str) -> String {
    shorten(job, "-config")
}

/// The headless Service of the workers.
pub fn service_name(job: &str) -> String {
    shorten(job, "-workers")
}

/// The local-state PVC of worker `ordinal`.
pub fn pvc_name(job: &str, ordinal: u32) -> String {
    shorten(job, &format!("-state-{ordinal}"))
}

/// The worker identity used in `transactional.id` (`<prefix>-<identity>`): stable per ordinal and parallelism
/// so a new assignment gets new ids and the old ones can be fenced explicitly.
pub fn worker_identity(parallelism: u32, ordinal: u32) -> String {
    format!("p{parallelism}-w{ordinal}")
}

/// Labels selecting every worker pod of `job` (also the `/scale` selector).
pub fn selector_labels(job: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (APP_LABEL.to_string(), WORKER_APP.to_string()),
        (JOB_LABEL.to_string(), job.to_string()),
    ])
}

/// [`selector_labels`] as a label-selector string.
pub fn selector_string(job: &str) -> String {
    selector_labels(job)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_fit_a_dns_label() {
        let long = "a".repeat(100);
        let name = worker_pod_name(&long, 12);
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("-worker-12"));
        assert_eq!(worker_pod_name("fraud", 0), "fraud-worker-0");
        assert_eq!(ordinal_of(&name), Some(12));
        assert_eq!(ordinal_of("fraud-config"), None);
    }

    #[test]
    fn identities_differ_across_assignments() {
        assert_ne!(worker_identity(2, 0), worker_identity(3, 0));
    }

    #[test]
    fn selector_string_lists_both_labels() {
        assert_eq!(
            selector_string("fraud"),
            "app.kubernetes.io/name=sluice-worker,sluice.dev/job=fraud"
        );
    }
}
