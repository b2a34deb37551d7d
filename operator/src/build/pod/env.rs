//! The worker's environment: what makes it this ordinal (identity, partitions, ids to fence, savepoint to
//! restore). Everything ordinal-specific is here, so the job ConfigMap stays shared by all workers. Secrets
//! never come as environment variables: they are mounted files (`volumes.rs`).

use std::num::NonZeroU32;

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector};
use sluice_crds::assignment::assign_partitions;
use sluice_crds::worker_env;

use crate::build::BuildError;
use crate::naming;
use crate::reconcile::Deployment;
use crate::validate::ValidatedJob;

pub(super) fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn join(v: &[impl ToString]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// What makes this worker this ordinal: identity, partitions, state directory, the previous layout's ids
/// to fence, the savepoint to restore and the state lineage to continue.
pub(super) fn ordinal(d: &Deployment, ordinal: u32) -> Result<Vec<EnvVar>, BuildError> {
    let job = &d.job;
    let owned = job
        .partitions_of(ordinal)
        .ok_or(BuildError::NoSuchOrdinal {
            ordinal,
            parallelism: job.parallelism(),
        })?;
    let identity = naming::worker_identity(job.parallelism().get(), ordinal);
    let mut envs = vec![
        env(worker_env::WORKER_IDENTITY, identity),
        env(worker_env::WORKER_PARTITIONS, join(owned)),
        env(worker_env::STATE_DIR, job.spec().job.state.dir.clone()),
        field_env(worker_env::POD_NAME, "metadata.name"),
        field_env(worker_env::POD_IP, "status.podIP"),
    ];
    if let Some(previous) = d.previous_parallelism {
        let ids = fence_ids(job, previous, ordinal);
        envs.push(env(worker_env::FENCE_TRANSACTIONAL_IDS, ids.join(",")));
    }
    if let Some(from) = &d.restore_from {
        envs.push(env(worker_env::RESTORE_FROM, from.clone()));
    }
    if let Some(lineage) = &d.lineage {
        envs.push(env(worker_env::LINEAGE, lineage.clone()));
    }
    Ok(envs)
}

/// Transactional ids of the `previous` assignment whose partitions overlap `ordinal`'s new partitions: the
/// new worker fences them before its first transaction, so no zombie of the old layout can commit.
pub fn fence_ids(job: &ValidatedJob, previous: NonZeroU32, ordinal: u32) -> Vec<String> {
    let prefix = &job.spec().job.transactional_id_prefix;
    let Some(mine) = job.partitions_of(ordinal) else {
        return Vec::new();
    };
    let old_layout = assign_partitions(job.partitions().get(), previous.get());
    (0u32..)
        .zip(old_layout)
        .filter(|(_, old)| old.iter().any(|p| mine.contains(p)))
        .map(|(j, _)| format!("{prefix}-{}", naming::worker_identity(previous.get(), j)))
        .collect()
}
