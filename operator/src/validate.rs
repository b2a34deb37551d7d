//! Stage "validate", **pure**: the rules admission cannot check (or that an object admitted under an older
//! CRD may break), as problems naming the field. Cluster lookups (Secrets, ConfigMaps) are done by `fetch`
//! and reported in the same form. A job with problems keeps running what is deployed; nothing new rolls out.

use sluice_crds::StreamJobSpec;
use sluice_crds::control::WorkerStatus;

use crate::reconcile::Problem;

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
    if let Some(level) = &spec.logging.level
        && let Some(why) = log_filter_problem(level)
    {
        out.push(Problem {
            field: "spec.logging.level".into(),
            message: format!(
                "{level:?} {why}; fix: a level such as info, or module=level pairs such as info,sluice_worker=debug"
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

/// Why `directives` would not log as meant, if so. `tracing` accepts a bare word as a module name logged at
/// every level, so a misspelt level (`debgu`) would silence everything else: bare words must be levels.
fn log_filter_problem(directives: &str) -> Option<String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(directives) {
        return Some(format!("is not a log filter ({e})"));
    }
    directives
        .split(',')
        .map(str::trim)
        .find(|d| !d.contains('=') && !LEVELS.contains(&d.to_ascii_lowercase().as_str()))
        .map(|d| format!("has {d:?}, which is neither a level nor module=level"))
}

/// `spec.partitions` against the input topics' partition count the workers found at start-up. Fewer in the
/// spec would leave the extra partitions unassigned (never processed); more would give workers partitions
/// that do not exist (they fail at start).
pub fn partition_count_problem<'a>(
    spec: &StreamJobSpec,
    statuses: impl IntoIterator<Item = &'a WorkerStatus>,
) -> Option<Problem> {
    let (worker, actual) = statuses
        .into_iter()
        .find_map(|s| Some((s.worker.as_str(), s.input_partitions?)))
        .filter(|&(_, n)| i64::from(n) != i64::from(spec.partitions))?;
    let consequence = if i64::from(actual) > i64::from(spec.partitions) {
        format!(
            "partitions {}..{} would never be processed",
            spec.partitions,
            actual - 1
        )
    } else {
        "workers would own partitions that do not exist".to_string()
    };
    Some(Problem {
        field: "spec.partitions".into(),
        message: format!(
            "is {} but the input topics have {actual} partitions (reported by worker {worker}); {consequence}; \
             set spec.partitions to {actual}",
            spec.partitions
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::{partition_count_problem, spec_problems};
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

    #[test]
    fn a_log_level_that_would_not_log_as_meant_names_spec_logging_level() {
        let mut s = spec();
        for good in ["info", "WARN", "info,sluice_worker=debug", "rdkafka=warn"] {
            s.logging.level = Some(good.into());
            assert!(spec_problems(&s).is_empty(), "{good}");
        }
        for bad in ["debgu", "info,sluice=loud"] {
            s.logging.level = Some(bad.into());
            let problems = spec_problems(&s);
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert_eq!(problems[0].field, "spec.logging.level");
            assert!(problems[0].message.contains(bad), "{}", problems[0].message);
        }
    }

    #[test]
    fn a_partition_count_other_than_the_topics_names_spec_partitions() {
        let spec = crate::decide::tests::spec();
        let mut status = crate::decide::tests::worker_status_for_tests();
        status.input_partitions = Some(6);
        let p = partition_count_problem(&spec, [&status]).unwrap();
        assert_eq!(p.field, "spec.partitions");
        assert!(
            p.message
                .contains("partitions 4..5 would never be processed"),
            "{}",
            p.message
        );
        assert!(
            p.message.contains("set spec.partitions to 6"),
            "{}",
            p.message
        );
        status.input_partitions = Some(4);
        assert_eq!(partition_count_problem(&spec, [&status]), None);
        status.input_partitions = None;
        assert_eq!(partition_count_problem(&spec, [&status]), None);
    }
}
