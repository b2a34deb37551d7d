//! The kube-runtime Controller: watches StreamJobs and their owned Pods, ConfigMaps and Services, and runs
//! fetch → validate → decide → build → apply for each job while this replica leads. Deletion goes through
//! a finalizer that can take a final savepoint first.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::{Action as RequeueAction, Controller};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use sluice_crds::StreamJob;
use tokio::sync::watch;

use crate::apply::{ApplyCtx, apply, delete_if_present, publish};
use crate::build::{self, JobMeta};
use crate::error::Error;
use crate::events::Recorder;
use crate::metrics::{Metrics, ResultLabel};
use crate::naming::FINALIZER;
use crate::reconcile::{Action, Severity, Transition};
use crate::rejections::Rejections;
use crate::rescale::{Autoscalers, set_parallelism};
use crate::stop_outcomes::StopOutcomes;
use crate::worker_client::WorkerClient;
use crate::{decide, fetch, validate};

/// Shared by every reconcile.
pub struct Context {
    pub client: kube::Client,
    pub workers: WorkerClient,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub leader: watch::Receiver<bool>,
    pub autoscalers: Autoscalers,
    pub rejections: Rejections,
    pub stop_outcomes: StopOutcomes,
}

impl Context {
    pub fn new(
        client: kube::Client,
        workers: WorkerClient,
        metrics: Arc<Metrics>,
        leader: watch::Receiver<bool>,
        instance: String,
    ) -> Context {
        let recorder = Recorder::new(client.clone(), "sluice-operator", instance);
        Context {
            client,
            workers,
            recorder,
            metrics,
            leader,
            autoscalers: Autoscalers::default(),
            rejections: Rejections::default(),
            stop_outcomes: StopOutcomes::default(),
        }
    }
}

fn job_meta(job: &StreamJob) -> Result<JobMeta, Error> {
    Ok(JobMeta {
        name: job.name_any(),
        namespace: job
            .namespace()
            .ok_or(Error::MissingField("metadata.namespace"))?,
        owner: job
            .controller_owner_ref(&())
            .ok_or(Error::MissingField("metadata.uid"))?,
    })
}

/// One reconcile of a live job: fetch → validate → decide → build → apply.
pub async fn reconcile_live(job: &StreamJob, ctx: &Context) -> Result<RequeueAction, Error> {
    let meta = job_meta(job)?;
    let uid = meta.uid().to_string();
    let mut fetched = fetch::observe(&ctx.client, &ctx.workers, job, Timestamp::now()).await?;
    fetched.observed.rejected_pod = ctx.rejections.get(&uid);
    fetched.observed.stop_outcomes = ctx.stop_outcomes.get(&uid);
    fetched.observed.autoscaler = ctx.autoscalers.recommend(job, &fetched.observed);
    let validation = validate::validate(&fetched.observed);
    let plan = decide::decide(&fetched.observed, &validation);
    let steps = build::steps(&meta, plan.actions)?;
    let creates_pods = steps
        .iter()
        .any(|s| matches!(s, Action::Deploy(objects) if !objects.workers.is_empty()));
    let rescale = plan.rescale;
    let requeue = Duration::from_secs(plan.requeue_secs);
    let cx = ApplyCtx {
        client: &ctx.client,
        workers: &ctx.workers,
        recorder: &ctx.recorder,
        job,
        meta,
        token: fetched.token,
        ips: fetched.ips,
        store_credentials: fetched.store_credentials,
        stop_outcomes: &ctx.stop_outcomes,
    };
    match apply(&cx, &plan.status, &plan.events, steps).await {
        Err(Error::PodRejected(r)) => {
            if ctx.rejections.remember(&uid, r.clone()) {
                let t = Transition {
                    severity: Severity::Warning,
                    reason: "PodRejected",
                    note: format!("pod {} ({}): {}", r.pod, r.reason, r.message),
                };
                publish(&ctx.recorder, job, &t).await;
            }
            return Err(Error::PodRejected(r));
        }
        Err(e) => return Err(e),
        Ok(()) if creates_pods => ctx.rejections.forget(&uid),
        Ok(()) => {}
    }
    // After the status (with the decision and its figures) is written: the spec change then rolls out as
    // a savepoint upgrade on the next reconcile.
    if let Some(r) = rescale {
        set_parallelism(&ctx.client, job, r).await?;
    }
    Ok(RequeueAction::requeue(requeue))
}

/// Deletion: optional final stop-with-savepoint, then the pods go (owner references collect the rest).
async fn cleanup(job: &StreamJob, ctx: &Context) -> Result<RequeueAction, Error> {
    ctx.autoscalers.forget(job);
    if let Some(uid) = job.uid() {
        ctx.rejections.forget(&uid);
        ctx.stop_outcomes.forget(&uid);
    }
    let fetched = fetch::observe(&ctx.client, &ctx.workers, job, Timestamp::now()).await?;
    if job.spec.deletion.final_savepoint && !fetched.ips.is_empty() {
        let id = format!("sp-final-{}", Timestamp::now().as_millisecond());
        let mut notes = Vec::new();
        for (pod, ip) in &fetched.ips {
            match ctx
                .workers
                .stop_with_savepoint(ip, fetched.token.as_deref(), &id)
                .await
            {
                Ok(r) => notes.push(format!("{pod}: {:?}", r.savepoint.and_then(|s| s.location))),
                Err(e) => notes.push(format!("{pod}: {e}")),
            }
        }
        let t = Transition {
            severity: Severity::Normal,
            reason: "FinalSavepoint",
            note: format!("{id}: {}", notes.join("; ")),
        };
        publish(&ctx.recorder, job, &t).await;
    }
    let ns = job
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    for p in &fetched.observed.pods {
        delete_if_present(&pods, &p.name).await?;
    }
    Ok(RequeueAction::await_change())
}

async fn reconcile(job: Arc<StreamJob>, ctx: Arc<Context>) -> Result<RequeueAction, Error> {
    if !*ctx.leader.borrow() {
        return Ok(RequeueAction::requeue(Duration::from_secs(5)));
    }
    let _timer = ctx.metrics.timer();
    let ns = job
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<StreamJob> = Api::namespaced(ctx.client.clone(), &ns);
    let result = finalizer(&api, FINALIZER, job, |event| async {
        match event {
            Finalizer::Apply(job) => reconcile_live(&job, &ctx).await,
            Finalizer::Cleanup(job) => cleanup(&job, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    });
    if result.is_ok() {
        ctx.metrics
            .reconciles
            .get_or_create(&ResultLabel { result: "ok" })
            .inc();
    }
    result
}

fn error_policy(job: Arc<StreamJob>, err: &Error, ctx: Arc<Context>) -> RequeueAction {
    let category = err.category();
    ctx.metrics.error(category);
    tracing::warn!(job = %job.name_any(), category = category.as_str(), error = %err, "reconcile failed");
    match category.retry_after() {
        Some(d) => RequeueAction::requeue(d),
        None => RequeueAction::await_change(),
    }
}

/// The jobs in the ConfigMap's namespace whose `spec.model.configMap` names it.
fn jobs_using_model(
    store: &kube::runtime::reflector::Store<StreamJob>,
    cm: &ConfigMap,
) -> Vec<ObjectRef<StreamJob>> {
    let (ns, name) = (cm.namespace(), cm.name_any());
    store
        .state()
        .iter()
        .filter(|j| j.namespace() == ns)
        .filter(|j| {
            j.spec
                .model
                .as_ref()
                .is_some_and(|m| m.config_map.name == name)
        })
        .map(|j| ObjectRef::from_obj(&**j))
        .collect()
}

/// Runs the controller until shutdown (SIGTERM / Ctrl-C).
pub async fn run(ctx: Arc<Context>, namespace: Option<String>) {
    run_with_readiness(ctx, namespace, crate::health::Readiness::new()).await;
}

/// [`run`], marking `readiness` once the StreamJob store has its initial list (on a standby too).
pub async fn run_with_readiness(
    ctx: Arc<Context>,
    namespace: Option<String>,
    readiness: crate::health::Readiness,
) {
    let client = ctx.client.clone();
    let (jobs, pods, cms, svcs) = match &namespace {
        Some(ns) => (
            Api::<StreamJob>::namespaced(client.clone(), ns),
            Api::<Pod>::namespaced(client.clone(), ns),
            Api::<ConfigMap>::namespaced(client.clone(), ns),
            Api::<Service>::namespaced(client.clone(), ns),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
        ),
    };
    let owned = watcher::Config::default().labels("app.kubernetes.io/name=sluice-worker");
    let models = match &namespace {
        Some(ns) => Api::<ConfigMap>::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let controller = Controller::new(jobs, watcher::Config::default());
    let store = controller.store();
    let synced = store.clone();
    tokio::spawn(async move {
        // kube-runtime's readiness signal wakes only its most recent waiter, and the controller's own applier
        // waits on it too; so look again every 500 ms rather than wait for a wake-up that may never come.
        loop {
            match tokio::time::timeout(Duration::from_millis(500), synced.wait_until_ready()).await
            {
                Ok(Ok(())) => {
                    readiness.mark_ready();
                    tracing::info!("StreamJob cache synced: ready");
                    return;
                }
                // The store's writer is gone: the controller stopped, so the process is shutting down.
                Ok(Err(_)) => return,
                Err(_elapsed) => {}
            }
        }
    });
    controller
        .owns(pods, owned.clone())
        .owns(cms, owned.clone())
        .owns(svcs, owned)
        // A model ConfigMap belongs to the user, not the job: map its changes to the jobs that use it, so a
        // new model rolls out now rather than at the next periodic reconcile.
        .watches(models, watcher::Config::default(), move |cm: ConfigMap| {
            jobs_using_model(&store, &cm)
        })
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}
