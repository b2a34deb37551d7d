//! `StreamJob.status`, written only by the operator (server-side apply on `/status`).
//!
//! The in-flight upgrade is a typed state machine ([`UpgradeStep`]) persisted here *before* each step is
//! executed, so an operator that crashes at any point resumes exactly where it stopped.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::stream_job_types::UpgradeMode;

/// Observed state, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamJobStatus {
    /// The generation the operator last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the job is in its lifecycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_state: Option<LifecycleState>,
    /// `Ready`, `Progressing` and `Degraded`. `lastTransitionTime` changes only on real transitions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Number of worker pods of the deployed spec (the `/scale` status replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// Label selector of the worker pods (the `/scale` selector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Figures reported by the workers' control API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobFigures>,
    /// Completed savepoints, newest last, bounded by `spec.savepointRetention`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub savepoints: Vec<SavepointRecord>,
    /// The spec (JSON) currently deployed, or being deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconciled_spec: Option<String>,
    /// The last spec (JSON) that stayed Ready for `spec.rollback.stableAfter`; the rollback target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stable_spec: Option<String>,
    /// Fingerprint of what the deployed pods run (spec fields that need a redeploy + model ConfigMap data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_hash: Option<String>,
    /// Savepoint directory the deployed workers restored from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    /// When every worker of the deployed spec was last seen ready (start of the current Ready streak).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_since: Option<Time>,
    /// The in-flight upgrade, suspend or rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeStatus>,
    /// A generation the operator will not roll out again (its savepoint failed or it was rolled back); any
    /// spec change lifts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_generation: Option<BlockedGeneration>,
    /// The job's newest Warning transitions (at most [`WARNING_HISTORY`], newest last): why workers
    /// restarted, were refused or failed, kept after the pods and their Events (which expire after an hour)
    /// are gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warning_history: Vec<WarningRecord>,
    /// Crash accounting for `spec.restartPolicy`.
    #[serde(default)]
    pub restarts: RestartStatus,
    /// Nonce values already acted on.
    #[serde(default)]
    pub nonces: HandledNonces,
    /// The state lineage the workers continue, set by each redeploy from a savepoint (absent: the job's
    /// original lineage). Workers never restore a checkpoint of another lineage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
    /// A savepoint requested by `savepointTriggerNonce`, still running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_savepoint: Option<PendingSavepoint>,
    /// What the autoscaler (`sluice.dev/autoscale*` annotations) decided last and why; absent while the job
    /// has no autoscaler annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler: Option<crate::autoscaler::AutoscalerStatus>,
}

/// Entries kept in `status.warningHistory`.
pub const WARNING_HISTORY: usize = 10;

/// One Warning transition of the job, as its Event said it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarningRecord {
    pub time: Time,
    /// The Event's reason (`WorkerRestarted`, `CrashLoopBackOff`, `JobFailed`, …).
    pub reason: String,
    /// The Event's note (at most 1,000 characters).
    pub message: String,
}

/// Lifecycle of a job, as `kubectl get sj` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LifecycleState {
    /// Accepted, nothing deployed yet.
    Created,
    /// Worker pods are starting (first deployment or resume).
    Deploying,
    /// Every worker is ready.
    Running,
    /// A spec change is being rolled out.
    Upgrading,
    /// Stopped on request; no pods.
    Suspended,
    /// The new spec was not Ready in time; `lastStableSpec` is being redeployed.
    RollingBack,
    /// Running `lastStableSpec` after a rollback; the failed generation is blocked.
    RolledBack,
    /// Restart budget exhausted or the spec cannot be deployed; the reason is in the Degraded condition.
    Failed,
    /// Ready for at least `spec.rollback.stableAfter`.
    Stable,
}

/// Figures from the workers' `GET /v1/status`, aggregated over workers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobFigures {
    /// Workers that answered and are in phase `running`.
    pub workers_running: i32,
    /// Input partitions owned by the answering workers.
    pub partitions: i32,
    /// Records behind the log end, summed over the reported partitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<i64>,
    /// Oldest of the workers' latest completed checkpoints (the job is restorable to at least this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkpoint: Option<SnapshotRef>,
    /// Newest savepoint of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_savepoint: Option<SnapshotRef>,
    /// Local state bytes, summed over workers.
    pub state_bytes: i64,
}

/// A snapshot by id and location.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRef {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// Why a savepoint was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SavepointTrigger {
    Upgrade,
    Suspend,
    /// `savepointTriggerNonce` changed.
    Manual,
    /// `savepoints.periodic.interval` passed.
    Periodic,
    Deletion,
}

/// One completed savepoint in the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointRecord {
    pub id: String,
    /// Savepoint directory (what `SLUICE_RESTORE_FROM` takes).
    pub location: String,
    pub trigger: SavepointTrigger,
    pub created_at: Time,
    /// Spec generation that was running when it was taken.
    pub generation: i64,
}

/// Why an upgrade runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeReason {
    /// First deployment (or resume after suspend).
    Initial,
    /// The spec or the model changed (includes rescale and restartNonce).
    SpecChange,
    /// `spec.state: suspended`.
    Suspend,
    /// Recreating after FAILED (restartNonce) or a lost deployment.
    Restart,
    /// `savepointRedeployNonce` changed: redeploying from `initialSavepointPath`.
    Redeploy,
}

/// The in-flight upgrade.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStatus {
    pub reason: UpgradeReason,
    /// Mode the upgrade runs in (fixed at its start).
    pub mode: UpgradeMode,
    /// Generation being rolled out.
    pub target_generation: i64,
    pub started_at: Time,
    /// Current step.
    pub step: UpgradeStep,
}

/// The upgrade state machine. Legal edges (see `sluice-operator`'s `decide::upgrade`):
/// `SavepointRequested → SavepointTaken → PodsDeleted → Deploying → (done) | RollingBack → (done)`, and
/// `SavepointRequested → (aborted: old spec keeps running)` when the savepoint fails.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum UpgradeStep {
    /// Stop-with-savepoint `savepointId` was asked of every worker (the id is fixed before the first call,
    /// so a retry after a crash asks for the same savepoint).
    SavepointRequested {
        savepoint_id: String,
        /// Workers (pod names) that confirmed the stop with a completed savepoint.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stopped: Vec<String>,
        /// Savepoint directory as reported by the first worker that completed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
    /// Every worker is stopped; `location` is the savepoint to restore (absent: restore nothing explicitly —
    /// last-state or stateless).
    SavepointTaken {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
    /// The old pods are deleted; the new spec is deployed next.
    PodsDeleted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restore_from: Option<String>,
    },
    /// The new spec's pods exist; waiting for them to become Ready within the readiness timeout.
    Deploying {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restore_from: Option<String>,
        since: Time,
    },
    /// The new spec missed its readiness timeout; `lastStableSpec` is redeployed from `restoreFrom`.
    RollingBack {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restore_from: Option<String>,
        /// Whether the rollback's pods were already created.
        #[serde(default)]
        deployed: bool,
        since: Time,
    },
}

impl UpgradeStep {
    /// Every step's [`name`](Self::name), in the order of an upgrade (rollback last). Keep it beside `name`:
    /// the operator's crash points are derived from it.
    pub const NAMES: [&'static str; 5] = [
        "SavepointRequested",
        "SavepointTaken",
        "PodsDeleted",
        "Deploying",
        "RollingBack",
    ];

    /// Short name for Events, logs and metrics (bounded).
    pub fn name(&self) -> &'static str {
        match self {
            UpgradeStep::SavepointRequested { .. } => "SavepointRequested",
            UpgradeStep::SavepointTaken { .. } => "SavepointTaken",
            UpgradeStep::PodsDeleted { .. } => "PodsDeleted",
            UpgradeStep::Deploying { .. } => "Deploying",
            UpgradeStep::RollingBack { .. } => "RollingBack",
        }
    }
}

/// A generation the operator refuses to roll out again, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockedGeneration {
    pub generation: i64,
    /// `SavepointFailed` or `RolledBack`.
    pub reason: String,
    pub message: String,
}

/// Crash accounting.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestartStatus {
    /// Times of the restarts inside the current window (bounded by `maxRestarts + 1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<Time>,
    /// Last seen container restart count per worker pod (to count only new restarts).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_restart_counts: BTreeMap<String, i32>,
    /// Earliest time missing or failed pods may be recreated (backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_recreate_at: Option<Time>,
    /// Why the job is FAILED, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// When the job became FAILED (the start of `restartPolicy.restartFailed`'s delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<Time>,
    /// Automatic restarts from FAILED since the job was last STABLE (each doubles the next delay).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_restarts: u32,
    /// Worker ordinals whose pod was taken by a voluntary disruption (eviction, preemption, node shutdown)
    /// and not yet recreated: their recreation is not counted as a restart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disrupted_ordinals: Vec<u32>,
}

/// The nonce values already handled (a different spec value triggers the action once).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandledNonces {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_redeploy: Option<i64>,
}

/// A savepoint the workers take while they keep running (manual or periodic), in progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingSavepoint {
    pub id: String,
    pub started_at: Time,
    /// `manual` or `periodic` (absent in statuses written before periodic savepoints: `manual`).
    #[serde(default = "manual_trigger")]
    pub trigger: SavepointTrigger,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn manual_trigger() -> SavepointTrigger {
    SavepointTrigger::Manual
}
