//! The workers' PodDisruptionBudget: a node drain (or any eviction through the Eviction API) takes at most
//! `spec.disruptionBudget.maxUnavailable` worker pods at a time, so a drain pauses a few partitions at once
//! instead of the whole job. Named after the job's Service; owned by the StreamJob.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sluice_crds::StreamJobSpec;

use super::JobMeta;
use crate::{naming, saturating};

/// The budget `spec` asks for; `None` when `spec.disruptionBudget.enabled` is false (the apply stage then
/// removes an existing one).
pub fn disruption_budget(job: &JobMeta, spec: &StreamJobSpec) -> Option<PodDisruptionBudget> {
    let budget = spec.disruption_budget;
    if !budget.enabled {
        return None;
    }
    let max_unavailable = saturating::to_i32(budget.max_unavailable);
    Some(PodDisruptionBudget {
        metadata: job.meta(
            naming::service_name(&job.name),
            naming::selector_labels(&job.name),
        ),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(max_unavailable)),
            selector: Some(LabelSelector {
                match_labels: Some(naming::selector_labels(&job.name)),
                ..LabelSelector::default()
            }),
            // A worker that is not Ready yet (recovering, or crash-looping) may always be evicted: holding it
            // would block a drain without protecting any running work.
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::build::test_support::job_meta;
    use crate::decide::tests::spec;

    #[test]
    fn the_budget_selects_the_jobs_workers_and_allows_one_by_default() {
        let pdb = disruption_budget(&job_meta(), &spec()).unwrap();
        let s = pdb.spec.unwrap();
        assert_eq!(s.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(
            s.selector.unwrap().match_labels.unwrap(),
            naming::selector_labels(&job_meta().name)
        );
        assert_eq!(pdb.metadata.owner_references.unwrap().len(), 1);
    }

    #[test]
    fn a_disabled_budget_is_not_built() {
        let mut spec = spec();
        spec.disruption_budget.enabled = false;
        assert!(disruption_budget(&job_meta(), &spec).is_none());
    }
}
