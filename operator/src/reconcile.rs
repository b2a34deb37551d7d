//! The data the pure `decide` step consumes and produces: the observed world of one StreamJob and the
//! actions the apply step executes. No I/O and no clocks here — `now` is an input.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use k8s_openapi::jiff::Timestamp;
use sluice_crds::control::WorkerStatus;
use sluice_crds::{StreamJobSpec, StreamJobStatus};

use crate::autoscale::recommend::{Recommendation, Rescale};
use crate::validate::ValidatedJob;

/// Everything `decide` looks at, gathered by the fetch stage.
#[derive(Clone, Debug)]
pub struct Observed {
    pub name: String,
    pub generation: i64,
    pub spec: StreamJobSpec,
    pub status: StreamJobStatus,
    /// Worker pods owned by the job (any ordinal, any fingerprint).
    pub pods: Vec<ObservedPod>,
    /// `GET /v1/status` per pod name, for pods that have an IP.
    pub workers: BTreeMap<String, WorkerProbe>,
    /// Hash of the model ConfigMap's data (None: no model configured, or its ConfigMap is missing).
    pub model_hash: Option<String>,
    /// Objects the spec refers to that are missing (Secrets, the model ConfigMap or their keys); `validate`
    /// reports them with the spec's own problems.
    pub reference_problems: Vec<Problem>,
    /// The API server refused the last attempt to create one of the job's pods (admission, quota).
    pub rejected_pod: Option<PodRejection>,
    /// Answers of the stop-with-savepoint calls the apply stage made since (remembered in memory; a new
    /// leader has none and relies on the workers' reported savepoints and exit codes).
    pub stop_outcomes: Vec<StopOutcome>,
    /// The autoscaler's recommendation (None: the job has no autoscaler annotations, and never had).
    pub autoscaler: Option<Recommendation>,
    pub now: Timestamp,
}

/// A spec problem naming its field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Path such as `spec.job.transactionTimeout` or `spec.controlApi.tokenSecret`.
    pub field: String,
    pub message: String,
}

/// Pod phase as Kubernetes reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    pub fn parse(s: Option<&str>) -> PodPhase {
        match s {
            Some("Pending") => PodPhase::Pending,
            Some("Running") => PodPhase::Running,
            Some("Succeeded") => PodPhase::Succeeded,
            Some("Failed") => PodPhase::Failed,
            _ => PodPhase::Unknown,
        }
    }
}

/// The answer of one worker's `POST /v1/stop` with a savepoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopOutcome {
    Completed {
        savepoint_id: String,
        pod: String,
        location: Option<String>,
    },
    Failed {
        savepoint_id: String,
        pod: String,
        error: String,
    },
}

impl StopOutcome {
    pub fn savepoint_id(&self) -> &str {
        match self {
            StopOutcome::Completed { savepoint_id, .. }
            | StopOutcome::Failed { savepoint_id, .. } => savepoint_id,
        }
    }

    pub fn pod(&self) -> &str {
        match self {
            StopOutcome::Completed { pod, .. } | StopOutcome::Failed { pod, .. } => pod,
        }
    }
}

/// One owned worker pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedPod {
    pub name: String,
    pub ordinal: u32,
    /// The pod's deploy fingerprint annotation.
    pub hash: Option<String>,
    pub phase: PodPhase,
    pub ready: bool,
    /// Sum of container restart counts.
    pub restarts: i32,
    pub ip: Option<String>,
    /// Has a deletionTimestamp.
    pub terminating: bool,
    /// Why the pod is not running as it should right now, in Kubernetes' words.
    pub trouble: Option<PodTrouble>,
    /// How the worker container last ended, e.g. `OOMKilled (exit code 137)`.
    pub last_termination: Option<String>,
    /// Why a voluntary disruption is taking the pod (its `DisruptionTarget` condition's reason, e.g.
    /// `EvictionByEvictionAPI` during a node drain).
    pub disruption: Option<String>,
}

/// A pod that is not running as it should: Kubernetes' reason (`ImagePullBackOff`, `CrashLoopBackOff`,
/// `Unschedulable`, `Evicted`, …) and its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodTrouble {
    pub reason: String,
    pub message: String,
}

/// A worker pod the API server refused to create (PodSecurity admission, a ResourceQuota, an invalid field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRejection {
    pub pod: String,
    /// The API's status reason (`Forbidden`, `Invalid`, …).
    pub reason: String,
    pub message: String,
}

impl ObservedPod {
    /// Exited (either way): it will not run again without being recreated.
    pub fn finished(&self) -> bool {
        matches!(self.phase, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// The answer of a worker's control API.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkerProbe {
    Status(Box<WorkerStatus>),
    Unreachable(String),
}

impl WorkerProbe {
    pub fn status(&self) -> Option<&WorkerStatus> {
        match self {
            WorkerProbe::Status(s) => Some(s),
            WorkerProbe::Unreachable(_) => None,
        }
    }
}

/// What the workers of one deployment run.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment {
    /// The spec the pods run (the current spec, the deployed one, or `lastStableSpec` during a rollback).
    pub job: ValidatedJob,
    /// Fingerprint put on every pod.
    pub hash: String,
    /// `SLUICE_RESTORE_FROM` for pods created now.
    pub restore_from: Option<String>,
    /// Parallelism of the previous assignment, when it differs (its transactional ids get fenced).
    pub previous_parallelism: Option<NonZeroU32>,
    /// `SLUICE_LINEAGE`: the job's state lineage (`status.lineage`).
    pub lineage: Option<String>,
}

/// One step for the apply stage. Order in the list is execution order. A deployment step carries `D`: what
/// to run as `decide` decided it ([`Deploy`]), then the objects the build stage rendered from it.
#[derive(Clone, Debug, PartialEq)]
pub enum Action<D = Deploy> {
    /// Apply ConfigMap, Service and PVCs of the deployment, and create the listed missing worker ordinals.
    Deploy(Box<D>),
    /// Delete these worker pods.
    DeletePods(Vec<String>),
    /// `POST /v1/stop {"savepoint":true,"savepointId":id}` on these pods; the answers come back as
    /// [`Observed::stop_outcomes`] on the next reconcile.
    StopWithSavepoint {
        pods: Vec<String>,
        savepoint_id: String,
    },
    /// `POST /v1/savepoints {"id":id}` on these pods (manual savepoint; completion is read from status).
    TriggerSavepoint {
        pods: Vec<String>,
        savepoint_id: String,
    },
    /// `POST /v1/checkpoints` on these pods.
    TriggerCheckpoint { pods: Vec<String> },
    /// Remove an expired savepoint directory from the store.
    DeleteSavepoint { location: String },
}

/// A deployment to (re)apply, and the worker ordinals whose pods are to be created.
#[derive(Clone, Debug, PartialEq)]
pub struct Deploy {
    pub deployment: Deployment,
    pub create_ordinals: Vec<u32>,
}

impl<D> Action<D> {
    /// The same action, its deployment step (if it is one) turned into `E` by `f`.
    pub fn try_map_deploy<E, Err>(
        self,
        f: impl FnOnce(D) -> Result<E, Err>,
    ) -> Result<Action<E>, Err> {
        Ok(match self {
            Action::Deploy(d) => Action::Deploy(Box::new(f(*d)?)),
            Action::DeletePods(pods) => Action::DeletePods(pods),
            Action::StopWithSavepoint { pods, savepoint_id } => {
                Action::StopWithSavepoint { pods, savepoint_id }
            }
            Action::TriggerSavepoint { pods, savepoint_id } => {
                Action::TriggerSavepoint { pods, savepoint_id }
            }
            Action::TriggerCheckpoint { pods } => Action::TriggerCheckpoint { pods },
            Action::DeleteSavepoint { location } => Action::DeleteSavepoint { location },
        })
    }
}

/// Severity of a transition Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Normal,
    Warning,
}

/// A state transition worth a Kubernetes Event (reason is PascalCase and bounded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub severity: Severity,
    pub reason: &'static str,
    pub note: String,
}

/// The output of `decide`: the status to write, the actions to run, the Events to publish and when to look
/// again. (Named apart from the scoring model's `Decision`, which is the fraud verdict.)
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub status: StreamJobStatus,
    pub actions: Vec<Action>,
    pub events: Vec<Transition>,
    /// Reconcile again after this long at the latest (seconds).
    pub requeue_secs: u64,
    /// The autoscaler's rescale, executed after the status is written.
    pub rescale: Option<Rescale>,
}
