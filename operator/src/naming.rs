//! Names of the objects the operator owns for a StreamJob. Kubernetes names are DNS-1123 labels (≤ 63
//! characters), so long job names are shortened deterministically rather than rejected by the API server.

/// Longest DNS-1123 label.
const MAX_LABEL: usize = 63;

/// The pod name of worker `ordinal` of job `job`: `<job>-worker-<ordinal>`, shortened to fit a label.
pub fn worker_pod_name(job: &str, ordinal: u32) -> String {
    let suffix = format!("-worker-{ordinal}");
    let room = MAX_LABEL.saturating_sub(suffix.len());
    let base: String = job.chars().take(room).collect();
    format!("{}{suffix}", base.trim_end_matches('-'))
}

/// The worker identity used in `transactional.id` (`<prefix>-<identity>`): stable per ordinal and parallelism
/// so a new assignment gets new ids and the old ones can be fenced explicitly.
pub fn worker_identity(parallelism: u32, ordinal: u32) -> String {
    format!("p{parallelism}-w{ordinal}")
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
    }

    #[test]
    fn identities_differ_across_assignments() {
        assert_ne!(worker_identity(2, 0), worker_identity(3, 0));
    }
}
