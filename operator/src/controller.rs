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

use crate::apply::{ApplyCtx, apply, delete_if_present, publish};
use crate::build::{self, JobMeta};
use crate::control_tls::store::CaStore;
use crate::control_tls::{self, job_workers};
use crate::error::Error;
use crate::events::Recorder;
use crate::lease::Leadership;
use crate::metrics::{Metrics, ResultLabel};
use crate::naming::FINALIZER;
use crate::reconcile::{Action, Severity, Transition};
use crate::rejections::Rejections;
use crate::rescale::{Autoscalers, set_parallelism};
use crate::stop_outcomes::StopOutcomes;
use crate::worker_client::WorkerClient;
use crate::{decide, fetch, job_metrics, validate};

/// Shared by every reconcile.
pub struct Context {
    pub client: kube::Client,
    pub workers: WorkerClient,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub leader: Leadership,
    pub autoscalers: Autoscalers,
    pub rejections: Rejections,
    pub stop_outcomes: StopOutcomes,
    /// The CA of the workers' control certificates.
    pub control_ca: CaStore,
}

/// The control CA Secret's name unless the operator is told otherwise.
pub const DEFAULT_CONTROL_CA_SECRET: &str = "sluice-operator-control-ca";

impl Context {
    pub fn new(
        client: kube::Client,
        workers: WorkerClient,
        metrics: Arc<Metrics>,
        leader: Leadership,
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
            control_ca: CaStore::new("default".into(), DEFAULT_CONTROL_CA_SECRET.into()),
        }
    }

    /// Keeps the control CA in the Secret `namespace/name` (by default `default/sluice-operator-control-ca`).
    pub fn with_control_ca(mut self, namespace: String, name: String) -> Context {
        self.control_ca = CaStore::new(namespace, name);
        self
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

fn job_labels(meta: &JobMeta) -> job_metrics::JobLabels {
    job_metrics::JobLabels {
        namespace: meta.namespace.clone(),
        streamjob: meta.name.clone(),
    }
}

/// One reconcile of a live job: fetch → validate → decide → build → apply.
pub async fn reconcile_live(job: &StreamJob, ctx: &Context) -> Result<RequeueAction, Error> {
    let meta = job_meta(job)?;
    let uid = meta.uid().to_string();
    let (workers, tls_problem) = job_workers(ctx, job, &meta, true).await?;
    let mut fetched = fetch::observe(&ctx.client, &workers, job, Timestamp::now()).await?;
    fetched.observed.reference_problems.extend(tls_problem);
    fetched.observed.rejected_pod = ctx.rejections.get(&uid);
    fetched.observed.stop_outcomes = ctx.stop_outcomes.get(&uid);
    fetched.observed.autoscaler = ctx.autoscalers.recommend(job, &fetched.observed);
    let validation = validate::validate(&fetched.observed);
    let plan = decide::decide(&fetched.observed, &validation);
    let seen = job_metrics::observe(
        &job.spec,
        &fetched.observed.status,
        &plan,
        fetched.observed.now,
    );
    let labels = job_labels(&meta);
    let steps = build::steps(&meta, plan.actions)?;
    let creates_pods = steps
        .iter()
        .any(|s| matches!(s, Action::Deploy(objects) if !objects.workers.is_empty()));
    let rescale = plan.rescale;
    let requeue = Duration::from_secs(plan.requeue_secs);
    let cx = ApplyCtx {
        client: &ctx.client,
        workers: &fetched.workers,
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
    ctx.metrics
        .jobs
        .record(&labels, &seen, fetched.observed.now);
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
    if let Ok(meta) = job_meta(job) {
        ctx.metrics.jobs.forget(&job_labels(&meta));
    }
    if let Some(uid) = job.uid() {
        ctx.rejections.forget(&uid);
        ctx.stop_outcomes.forget(&uid);
    }
    let meta = job_meta(job)?;
    let workers = control_tls::workers_for_deletion(ctx, job, &meta).await;
    let fetched = fetch::observe(&ctx.client, &workers, job, Timestamp::now()).await?;
    if job.spec.deletion.final_savepoint && !fetched.ips.is_empty() {
        let id = format!("sp-final-{}", Timestamp::now().as_millisecond());
        let mut notes = Vec::new();
        for (pod, ip) in &fetched.ips {
            match fetched
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
    if !ctx.leader.is_leading() {
        return Ok(RequeueAction::requeue(Duration::from_secs(5)));
    }
    let _timer = ctx.metrics.timer();
    let name = job.name_any();
    let ns = job
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<StreamJob> = Api::namespaced(ctx.client.clone(), &ns);
    let work = finalizer(&api, FINALIZER, job, |event| async {
        match event {
            Finalizer::Apply(job) => reconcile_live(&job, &ctx).await,
            Finalizer::Cleanup(job) => cleanup(&job, &ctx).await,
        }
    });
    // Fencing: the moment leadership ends (the renew deadline passed), the reconcile stops where it is —
    // whatever it would still write (status, pods, a stop-with-savepoint) is left to the new leader.
    let result = tokio::select! {
        biased;
        () = ctx.leader.lost() => {
            tracing::warn!(job = %name, "leadership lost: reconcile abandoned");
            return Ok(RequeueAction::requeue(Duration::from_secs(5)));
        }
        r = work => r,
    };
    let result = result.map_err(|e| match e {
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

/// Label that puts a model ConfigMap under watch: its changes roll out at once. The operator watches only
/// ConfigMaps carrying it (and its own job ConfigMaps), never every ConfigMap it may read; an unlabelled
/// model ConfigMap is still read by name at every reconcile, so its changes roll out at the next periodic one.
pub const MODEL_LABEL: &str = "sluice.dev/model";

/// Where the operator reconciles StreamJobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (needs the chart's ClusterRole).
    Cluster,
    /// Only these namespaces (the chart's Roles, one per namespace); never empty.
    Namespaces(Vec<String>),
}

impl Scope {
    /// `--watch-namespaces` as given: empty entries are dropped, duplicates removed; nothing left means the
    /// whole cluster.
    pub fn from_list<S: AsRef<str>>(names: &[S]) -> Scope {
        let mut list: Vec<String> = names
            .iter()
            .map(|n| n.as_ref().trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        list.sort();
        list.dedup();
        if list.is_empty() {
            Scope::Cluster
        } else {
            Scope::Namespaces(list)
        }
    }

    /// One entry per controller: `None` for the whole cluster, else each namespace.
    fn partitions(&self) -> Vec<Option<String>> {
        match self {
            Scope::Cluster => vec![None],
            Scope::Namespaces(list) => list.iter().cloned().map(Some).collect(),
        }
    }
}

/// Runs the controllers until shutdown (SIGTERM / Ctrl-C).
pub async fn run(ctx: Arc<Context>, scope: Scope) {
    run_with_readiness(ctx, scope, crate::health::Readiness::new()).await;
}

/// [`run`], marking `readiness` once every StreamJob store has its initial list (on a standby too). Several
/// namespaces get one controller each, sharing the context (and so the leader flag, metrics, autoscalers):
/// kube-runtime's Controller watches one `Api`, and a namespaced `Api` per namespace is what namespaced RBAC
/// allows.
pub async fn run_with_readiness(
    ctx: Arc<Context>,
    scope: Scope,
    readiness: crate::health::Readiness,
) {
    let mut stores = Vec::new();
    let mut controllers = Vec::new();
    for ns in scope.partitions() {
        let (store, run) = controller_for(ctx.clone(), ns.as_deref());
        stores.push(store);
        controllers.push(run);
    }
    tokio::spawn(mark_ready_when_synced(stores, readiness));
    futures::future::join_all(controllers).await;
}

/// Marks `readiness` once every store has its initial list.
async fn mark_ready_when_synced(
    stores: Vec<kube::runtime::reflector::Store<StreamJob>>,
    readiness: crate::health::Readiness,
) {
    for store in stores {
        // kube-runtime's readiness signal wakes only its most recent waiter, and the controller's own applier
        // waits on it too; so look again every 500 ms rather than wait for a wake-up that may never come.
        loop {
            match tokio::time::timeout(Duration::from_millis(500), store.wait_until_ready()).await {
                Ok(Ok(())) => break,
                // The store's writer is gone: the controller stopped, so the process is shutting down.
                Ok(Err(_)) => return,
                Err(_elapsed) => {}
            }
        }
    }
    readiness.mark_ready();
    tracing::info!("StreamJob cache synced: ready");
}

/// The controller of one namespace (`None`: all), and its StreamJob store.
fn controller_for(
    ctx: Arc<Context>,
    namespace: Option<&str>,
) -> (
    kube::runtime::reflector::Store<StreamJob>,
    futures::future::BoxFuture<'static, ()>,
) {
    let client = ctx.client.clone();
    fn api<K>(client: &kube::Client, ns: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let owned = watcher::Config::default().labels("app.kubernetes.io/name=sluice-worker");
    let models = watcher::Config::default().labels(MODEL_LABEL);
    let controller = Controller::new(
        api::<StreamJob>(&client, namespace),
        watcher::Config::default(),
    );
    let store = controller.store();
    let jobs = store.clone();
    let run = controller
        .owns(api::<Pod>(&client, namespace), owned.clone())
        .owns(api::<ConfigMap>(&client, namespace), owned.clone())
        .owns(api::<Service>(&client, namespace), owned)
        // A model ConfigMap belongs to the user, not the job: map its changes to the jobs that use it, so a
        // new model rolls out now rather than at the next periodic reconcile.
        .watches(
            api::<ConfigMap>(&client, namespace),
            models,
            move |cm: ConfigMap| jobs_using_model(&jobs, &cm),
        )
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "controller event");
            }
        });
    (store, Box::pin(run))
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn the_watch_list_is_trimmed_deduplicated_and_empty_means_the_cluster() {
        assert_eq!(Scope::from_list::<&str>(&[]), Scope::Cluster);
        assert_eq!(Scope::from_list(&["", " "]), Scope::Cluster);
        assert_eq!(
            Scope::from_list(&["risk", " payments", "risk", ""]),
            Scope::Namespaces(vec!["payments".into(), "risk".into()])
        );
        assert_eq!(
            Scope::from_list(&["a", "b"]).partitions(),
            [Some("a".to_string()), Some("b".to_string())]
        );
        assert_eq!(Scope::Cluster.partitions(), [None]);
    }
}
