//! The `StreamJob` custom resource (`sluice.dev/v1alpha1`, short name `sj`).
//!
//! This is the first cut the operator issue grows (CEL rules, status, scale subresource); the field names here
//! are the ones it keeps.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::job_config::JobConfig;

/// Desired state of one fraud-scoring job.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "sluice.dev",
    version = "v1alpha1",
    kind = "StreamJob",
    namespaced,
    shortname = "sj",
    status = "StreamJobStatus",
    doc = "A Sluice exactly-once stream processing job."
)]
#[serde(rename_all = "camelCase")]
pub struct StreamJobSpec {
    /// Container image of the worker (`sluice-worker`).
    pub image: String,
    /// Number of worker pods. Each owns a fixed subset of the input partitions.
    #[schemars(range(min = 1))]
    pub parallelism: i32,
    /// The worker's job configuration (topics, transactions, watermarks, state).
    pub job: JobConfig,
    /// How a spec change is rolled out.
    #[serde(default)]
    pub upgrade_mode: UpgradeMode,
}

/// How a spec change reaches running workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeMode {
    /// Start fresh: no state carried over.
    Stateless,
    /// Stop with a savepoint, restart the new spec from it (exactly-once across the upgrade).
    #[default]
    Savepoint,
    /// Restart from the latest checkpoint without needing healthy workers.
    LastState,
}

/// Observed state, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamJobStatus {
    /// The generation the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Number of workers running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;

    use super::StreamJob;

    #[test]
    fn crd_has_the_api_names_users_type() {
        let crd = StreamJob::crd();
        assert_eq!(crd.spec.group, "sluice.dev");
        assert_eq!(crd.spec.names.kind, "StreamJob");
        assert_eq!(crd.spec.names.short_names, Some(vec!["sj".to_string()]));
        assert_eq!(crd.spec.versions[0].name, "v1alpha1");
    }
}
