//! Stage "validate", **pure**: the current spec either becomes a [`ValidatedJob`] — the typed values every
//! later stage reads — or the list of its problems, each naming its field. The rules are those admission
//! cannot check (or that an object admitted under an older CRD may break); what `fetch` found missing
//! among the spec's references and the partition count the workers report are problems of the same form.
//! A job with problems keeps running what is deployed; nothing new rolls out.

mod job;
mod pod_template;
#[cfg(test)]
mod pod_template_tests;
#[cfg(test)]
mod tests;

pub use job::ValidatedJob;
pub use pod_template::WorkerTemplate;

use sluice_crds::StreamJobSpec;
use sluice_crds::control::WorkerStatus;

use crate::reconcile::{Observed, Problem, WorkerProbe};

/// The outcome of validation: the typed job, or every problem found (never an empty list).
pub type Validation = Result<ValidatedJob, Vec<Problem>>;

/// Validates the current spec of `obs` with what fetch observed (references, worker statuses).
pub fn validate(obs: &Observed) -> Validation {
    let mut problems = spec_problems(&obs.spec);
    problems.extend(obs.reference_problems.iter().cloned());
    problems.extend(partition_count_problem(
        &obs.spec,
        obs.workers.values().filter_map(WorkerProbe::status),
    ));
    if !problems.is_empty() {
        return Err(problems);
    }
    ValidatedJob::from_spec(obs.spec.clone())
}

/// Problems of the spec alone.
fn spec_problems(spec: &StreamJobSpec) -> Vec<Problem> {
    let mut out: Vec<Problem> = spec
        .job
        .validate()
        .into_iter()
        .map(|e| Problem {
            field: format!("spec.job.{}", e.field),
            message: format!("{}; fix: {}", e.problem, e.fix),
        })
        .collect();
    if let Err(problems) = job::worker_counts(spec) {
        out.extend(problems);
    }
    if let Err(problems) = pod_template::resolve(spec) {
        out.extend(problems);
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
    if spec.savepoint_redeploy_nonce.is_some() && spec.initial_savepoint_path.is_none() {
        out.push(Problem {
            field: "spec.initialSavepointPath".into(),
            message: "is required with savepointRedeployNonce (the savepoint to redeploy from); fix: set it to \
                      the savepoint directory, e.g. one from status.savepoints"
                .into(),
        });
    }
    out.extend(state_keys_problem(spec));
    out.extend(kafka_sasl_problem(spec));
    out.extend(oidc_problems(spec));
    if spec.image.trim().is_empty() {
        out.push(Problem {
            field: "spec.image".into(),
            message: "must name the worker image".into(),
        });
    }
    out
}

/// `spec.controlApi.oidc`, each problem naming its field.
fn oidc_problems(spec: &StreamJobSpec) -> Vec<Problem> {
    let Some(oidc) = spec.control_api.as_ref().and_then(|a| a.oidc.as_ref()) else {
        return Vec::new();
    };
    oidc.problems()
        .into_iter()
        .map(|p| Problem {
            field: format!("spec.controlApi.oidc.{}", p.field.name()),
            message: p.problem,
        })
        .collect()
}

/// Encrypted state needs its keys mounted, and keys without `state.encryption` would suggest protection the
/// job does not have: each without the other names the missing field.
fn state_keys_problem(spec: &StreamJobSpec) -> Option<Problem> {
    match (
        &spec.job.state.encryption,
        &spec.storage.encryption_keys_secret,
    ) {
        (Some(enc), None) => Some(Problem {
            field: "spec.storage.encryptionKeysSecret".into(),
            message: format!(
                "is required with spec.job.state.encryption; fix: name the Secret holding key {:?} (32 bytes in \
                 base64, e.g. from `openssl rand -base64 32`)",
                enc.current_key
            ),
        }),
        (None, Some(keys)) => Some(Problem {
            field: "spec.job.state.encryption".into(),
            message: format!(
                "is not set, so the keys in Secret {:?} would not be used; fix: set \
                 spec.job.state.encryption.currentKey, or remove spec.storage.encryptionKeysSecret",
                keys.name
            ),
        }),
        _ => None,
    }
}

/// A SASL protocol in `spec.job.kafka.security` needs the credentials Secret: without it every worker would
/// fail at start (the admission rule says the same for objects created under the current CRD).
fn kafka_sasl_problem(spec: &StreamJobSpec) -> Option<Problem> {
    let security = spec.job.kafka.as_ref()?.security?;
    let has_secret = spec
        .kafka_auth
        .as_ref()
        .is_some_and(|a| a.sasl_secret.is_some());
    (security.protocol.uses_sasl() && !has_secret).then(|| Problem {
        field: "spec.kafkaAuth.saslSecret".into(),
        message: format!(
            "is required with spec.job.kafka.security.protocol {}; fix: name the Secret holding the keys \
             username and password",
            security.protocol.as_str()
        ),
    })
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
fn partition_count_problem<'a>(
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
