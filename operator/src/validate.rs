//! Stage "validate", **pure**: the rules admission cannot check (or that an object admitted under an older
//! CRD may break), as problems naming the field. Cluster lookups (Secrets, ConfigMaps) are done by `fetch`
//! and reported in the same form. A job with problems keeps running what is deployed; nothing new rolls out.

use sluice_crds::StreamJobSpec;

use crate::model::Problem;

/// Problems of the spec alone.
pub fn spec_problems(spec: &StreamJobSpec) -> Vec<Problem> {
    let mut out: Vec<Problem> = spec
        .job
        .validate()
        .into_iter()
        .map(|e| Problem {
            field: format!("spec.job.{}", e.field),
            message: format!("{}; fix: {}", e.problem, e.fix),
        })
        .collect();
    if spec.parallelism < 1 {
        out.push(Problem {
            field: "spec.parallelism".into(),
            message: "must be at least 1".into(),
        });
    }
    if spec.parallelism > spec.partitions {
        out.push(Problem {
            field: "spec.parallelism".into(),
            message: format!(
                "{} workers for {} partitions would leave workers without a partition",
                spec.parallelism, spec.partitions
            ),
        });
    }
    if spec.image.trim().is_empty() {
        out.push(Problem {
            field: "spec.image".into(),
            message: "must name the worker image".into(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::spec_problems;
    use crate::decide::tests::spec;

    #[test]
    fn problems_name_their_fields() {
        let mut s = spec();
        assert!(spec_problems(&s).is_empty());
        s.parallelism = 9;
        s.job.transaction_timeout = sluice_crds::Millis::from_secs(1);
        let fields: Vec<String> = spec_problems(&s).into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            vec!["spec.job.transactionTimeout", "spec.parallelism"]
        );
    }
}
