//! Stage "apply", I/O: persist the decided status first (server-side apply on `/status`, one field
//! manager), then publish Events, then execute the steps in order — the actions as decided, each
//! deployment as the objects the build stage rendered. Because the status — including the upgrade step —
//! is written before any step runs, a crash between the two re-runs the same step.

use std::collections::BTreeMap;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_crds::control::SnapshotState;
use sluice_crds::{StreamJob, StreamJobStatus};

use crate::build::{DeployObjects, JobMeta, Step};
use crate::crash_point;
use crate::error::Error;
use crate::events::Recorder;
use crate::naming::FIELD_MANAGER;
use crate::reconcile::{Action, PodRejection, Severity, StopOutcome, Transition};
use crate::worker_client::{CallError, JobWorkers};

/// What the apply stage needs besides the decided status, Events and steps.
pub struct ApplyCtx<'a> {
    pub client: &'a kube::Client,
    pub workers: &'a JobWorkers,
    pub recorder: &'a Recorder,
    pub job: &'a StreamJob,
    pub meta: JobMeta,
    pub token: Option<String>,
    pub ips: BTreeMap<String, String>,
    pub store_credentials: Option<sluice_store::S3Credentials>,
    /// Where the answers of stop-with-savepoint calls go, for the next reconcile to observe.
    pub stop_outcomes: &'a crate::stop_outcomes::StopOutcomes,
}

fn params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

pub(crate) async fn ssa<K>(api: &Api<K>, obj: &K) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch(&name, &params(), &Patch::Apply(obj))
        .await
        .map_err(Error::kube("apply", format!("{} {name}", K::kind(&()))))?;
    Ok(())
}

/// Writes `status` with server-side apply.
pub async fn patch_status(
    client: &kube::Client,
    job: &StreamJob,
    status: &StreamJobStatus,
) -> Result<(), Error> {
    let ns = job
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<StreamJob> = Api::namespaced(client.clone(), &ns);
    let body = serde_json::json!({
        "apiVersion": "sluice.dev/v1alpha1",
        "kind": "StreamJob",
        "status": status,
    });
    api.patch_status(&job.name_any(), &params(), &Patch::Apply(&body))
        .await
        .map_err(Error::kube("apply", "StreamJob status"))?;
    Ok(())
}

/// Publishes one transition as a Kubernetes Event (failures are logged, never fatal).
pub async fn publish(recorder: &Recorder, job: &StreamJob, t: &Transition) {
    if let Err(e) = recorder.publish(job, t).await {
        tracing::warn!(error = %e, reason = t.reason, "publishing an Event failed");
    }
}

/// Persists the decided `status`, publishes `events` and executes `steps`.
pub async fn apply(
    cx: &ApplyCtx<'_>,
    status: &StreamJobStatus,
    events: &[Transition],
    steps: Vec<Step>,
) -> Result<(), Error> {
    patch_status(cx.client, cx.job, status).await?;
    crash_point::after_persisting(status);
    for t in events {
        tracing::info!(job = %cx.meta.name, reason = t.reason, note = %t.note, "transition");
        publish(cx.recorder, cx.job, t).await;
    }
    for step in steps {
        execute(cx, step).await?;
    }
    Ok(())
}

/// Deletes `name`; an object that is already gone is not an error.
pub async fn delete_if_present<K>(api: &Api<K>, name: &str) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::kube("delete", format!("{} {name}", K::kind(&())))(e)),
    }
}

/// Applies the workers' PodDisruptionBudget, or removes it when the spec disables it.
async fn apply_disruption_budget(
    cx: &ApplyCtx<'_>,
    pdb: Option<&PodDisruptionBudget>,
) -> Result<(), Error> {
    let api: Api<PodDisruptionBudget> = Api::namespaced(cx.client.clone(), &cx.meta.namespace);
    match pdb {
        Some(pdb) => ssa(&api, pdb).await,
        None => delete_if_present(&api, &crate::naming::service_name(&cx.meta.name)).await,
    }
}

/// Applies a worker pod; a refusal by admission (PodSecurity, quota: 403) or validation (422) becomes
/// [`Error::PodRejected`], which the controller turns into a condition and an Event.
async fn create_pod(api: &Api<Pod>, pod: &Pod) -> Result<(), Error> {
    ssa(api, pod).await.map_err(|e| match e {
        Error::Kube {
            source: kube::Error::Api(s),
            ..
        } if matches!(s.code, 403 | 422) => Error::PodRejected(PodRejection {
            pod: pod.name_any(),
            reason: s.reason,
            message: s.message,
        }),
        other => other,
    })
}

async fn stop_all(cx: &ApplyCtx<'_>, pods: &[String], id: &str) -> Vec<StopOutcome> {
    let calls = pods.iter().filter_map(|pod| {
        let ip = cx.ips.get(pod)?;
        Some(async move {
            let r = cx
                .workers
                .stop_with_savepoint(ip, cx.token.as_deref(), id)
                .await;
            (pod.clone(), r)
        })
    });
    join_all(calls)
        .await
        .into_iter()
        .filter_map(|(pod, r)| match r {
            Ok(resp) => match resp.savepoint {
                Some(sp) if sp.state == SnapshotState::Completed => Some(StopOutcome::Completed {
                    savepoint_id: id.to_string(),
                    pod,
                    location: sp.location,
                }),
                Some(sp) if sp.state == SnapshotState::Failed => Some(StopOutcome::Failed {
                    savepoint_id: id.to_string(),
                    pod,
                    error: sp.error.unwrap_or_default(),
                }),
                Some(_) => None,
                None => Some(StopOutcome::Failed {
                    savepoint_id: id.to_string(),
                    pod,
                    error: "stopped without a savepoint".into(),
                }),
            },
            // 409: a stop is already in progress (e.g. requested before an operator restart): wait for it.
            Err(CallError::Rejected { status: 409, .. }) | Err(CallError::Unreachable { .. }) => {
                None
            }
            Err(e) => Some(StopOutcome::Failed {
                savepoint_id: id.to_string(),
                pod,
                error: e.to_string(),
            }),
        })
        .collect()
}

async fn execute(cx: &ApplyCtx<'_>, step: Step) -> Result<(), Error> {
    match step {
        Action::Deploy(objects) => deploy(cx, &objects).await?,
        Action::DeletePods(names) => {
            let pods: Api<Pod> = Api::namespaced(cx.client.clone(), &cx.meta.namespace);
            for name in names {
                delete_if_present(&pods, &name).await?;
            }
        }
        Action::StopWithSavepoint { pods, savepoint_id } => {
            let outcomes = stop_all(cx, &pods, &savepoint_id).await;
            cx.stop_outcomes.record(cx.meta.uid(), outcomes);
        }
        Action::TriggerSavepoint { pods, savepoint_id } => {
            for pod in pods {
                let Some(ip) = cx.ips.get(&pod) else { continue };
                let token = cx.token.as_deref();
                let result = cx.workers.trigger_savepoint(ip, token, &savepoint_id).await;
                warn_on_failure(cx, "SavepointTriggerFailed", &pod, result).await;
            }
        }
        Action::TriggerCheckpoint { pods } => {
            for pod in pods {
                let Some(ip) = cx.ips.get(&pod) else { continue };
                let result = cx.workers.trigger_checkpoint(ip, cx.token.as_deref()).await;
                warn_on_failure(cx, "CheckpointTriggerFailed", &pod, result).await;
            }
        }
        Action::DeleteSavepoint { location } => delete_savepoint(cx, &location).await,
    }
    Ok(())
}

/// A failed call to a worker becomes a Warning Event naming the pod; the decision stands.
async fn warn_on_failure<T>(
    cx: &ApplyCtx<'_>,
    reason: &'static str,
    pod: &str,
    result: Result<T, CallError>,
) {
    if let Err(e) = result {
        let t = Transition {
            severity: Severity::Warning,
            reason,
            note: format!("{pod}: {e}"),
        };
        publish(cx.recorder, cx.job, &t).await;
    }
}

/// Applies the deployment's ConfigMap, Service and disruption budget, then the PVC and pod of each worker
/// to create.
async fn deploy(cx: &ApplyCtx<'_>, objects: &DeployObjects) -> Result<(), Error> {
    let ns = &cx.meta.namespace;
    let config_maps = Api::<ConfigMap>::namespaced(cx.client.clone(), ns);
    ssa(&config_maps, &objects.config_map).await?;
    let services = Api::<Service>::namespaced(cx.client.clone(), ns);
    ssa(&services, &objects.service).await?;
    apply_disruption_budget(cx, objects.disruption_budget.as_ref()).await?;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(cx.client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(cx.client.clone(), ns);
    for worker in &objects.workers {
        if let Some(pvc) = &worker.volume_claim
            && pvcs
                .get_opt(&pvc.name_any())
                .await
                .map_err(Error::kube("get", pvc.name_any()))?
                .is_none()
        {
            // PVC specs are immutable once bound: create, never re-apply.
            ssa(&pvcs, pvc).await?;
        }
        create_pod(&pods, &worker.pod).await?;
    }
    Ok(())
}

/// Best effort: the history entry is already gone; a failure is an Event, not a retry loop.
async fn delete_savepoint(cx: &ApplyCtx<'_>, location: &str) {
    let result =
        crate::store::delete_savepoint(&cx.job.spec.job, cx.store_credentials.as_ref(), location)
            .await;
    let t = match result {
        Ok(n) => Transition {
            severity: Severity::Normal,
            reason: "SavepointDeleted",
            note: format!("{location}: {n} objects deleted"),
        },
        Err(e) => Transition {
            severity: Severity::Warning,
            reason: "SavepointDeletionFailed",
            note: e,
        },
    };
    publish(cx.recorder, cx.job, &t).await;
}
