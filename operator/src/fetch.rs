//! Stage "fetch", I/O only: the job's pods, the objects its spec refers to (token Secret, model ConfigMap,
//! credential Secrets) and each running worker's `GET /v1/status`. Missing references become problems
//! naming the field instead of errors, so the job's status can say what to fix.

use std::collections::BTreeMap;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use sluice_crds::StreamJob;
use sluice_crds::worker_env;

use crate::decide::fingerprint::data_hash;
use crate::error::Error;
use crate::reconcile::{Observed, ObservedPod, PodPhase, Problem, WorkerProbe};
use crate::store::StoreCredentials;
use crate::worker_client::WorkerClient;
use crate::{naming, pod_health, validate};

/// What fetch returns besides the observed world: the control token for the apply stage.
pub struct Fetched {
    pub observed: Observed,
    pub token: Option<String>,
    /// Pod name → IP (for worker calls in the apply stage).
    pub ips: BTreeMap<String, String>,
    /// Checkpoint store credentials from `spec.storage.credentialsSecret` (for deleting savepoints).
    pub store_credentials: Option<StoreCredentials>,
}

fn observed_pod(pod: &Pod) -> Option<ObservedPod> {
    let name = pod.name_any();
    let ordinal = naming::ordinal_of(&name)?;
    let status = pod.status.as_ref();
    let ready = pod_health::condition(pod, "Ready", "True").is_some();
    let restarts = status
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).sum())
        .unwrap_or(0);
    Some(ObservedPod {
        name,
        ordinal,
        hash: pod.annotations().get(naming::HASH_ANNOTATION).cloned(),
        phase: PodPhase::parse(status.and_then(|s| s.phase.as_deref())),
        ready,
        restarts,
        ip: status.and_then(|s| s.pod_ip.clone()),
        terminating: pod.metadata.deletion_timestamp.is_some(),
        trouble: pod_health::trouble(pod),
        last_termination: pod_health::last_termination(pod),
        disruption: pod_health::disruption(pod),
    })
}

/// Reads one Secret key; `Err(problem)` when the Secret or key is missing.
async fn secret_key(
    api: &Api<Secret>,
    name: &str,
    key: &str,
    field: &str,
) -> Result<Result<String, Problem>, Error> {
    let secret = api
        .get_opt(name)
        .await
        .map_err(Error::kube("get", format!("Secret {name}")))?;
    let problem = |message: String| Problem {
        field: field.into(),
        message,
    };
    let Some(secret) = secret else {
        return Ok(Err(problem(format!("Secret {name:?} not found"))));
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .cloned()
        });
    Ok(value.ok_or_else(|| problem(format!("Secret {name:?} has no key {key:?}"))))
}

/// Gathers the observed world of `job`.
pub async fn observe(
    client: &kube::Client,
    workers: &WorkerClient,
    job: &StreamJob,
    now: Timestamp,
) -> Result<Fetched, Error> {
    let ns = job
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = job.name_any();
    let uid = job.uid();
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let spec = &job.spec;

    let selector = naming::selector_string(&name);
    let listed = pods_api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::kube("list", format!("pods {selector}")))?;
    let owned = listed.items.iter().filter(|p| {
        p.owner_references()
            .iter()
            .any(|o| Some(&o.uid) == uid.as_ref())
    });
    let pods: Vec<ObservedPod> = owned.filter_map(observed_pod).collect();

    let mut problems = validate::spec_problems(spec);
    let mut token = None;
    if let Some(api) = &spec.control_api {
        match secret_key(
            &secrets,
            &api.token_secret.name,
            &api.token_secret.key,
            "spec.controlApi.tokenSecret",
        )
        .await?
        {
            Ok(t) => token = Some(t),
            Err(p) => problems.push(p),
        }
    }
    let mut model_hash = None;
    if let Some(model) = &spec.model {
        let field = "spec.model.configMap";
        match config_maps
            .get_opt(&model.config_map.name)
            .await
            .map_err(Error::kube(
                "get",
                format!("ConfigMap {}", model.config_map.name),
            ))? {
            Some(cm) => {
                let data = cm.data.unwrap_or_default();
                if !data.contains_key(&model.config_map.key) {
                    problems.push(Problem {
                        field: field.into(),
                        message: format!(
                            "ConfigMap {:?} has no key {:?}",
                            model.config_map.name, model.config_map.key
                        ),
                    });
                }
                model_hash = Some(data_hash(data.iter()));
            }
            None => problems.push(Problem {
                field: field.into(),
                message: format!("ConfigMap {:?} not found", model.config_map.name),
            }),
        }
    }
    let mut must_exist = Vec::new();
    let mut store_credentials = None;
    if let Some(c) = &spec.storage.credentials_secret {
        let field = "spec.storage.credentialsSecret";
        let id = secret_key(&secrets, &c.name, worker_env::AWS_ACCESS_KEY_ID, field).await?;
        let key = secret_key(&secrets, &c.name, worker_env::AWS_SECRET_ACCESS_KEY, field).await?;
        match (id, key) {
            (Ok(access_key_id), Ok(secret_access_key)) => {
                store_credentials = Some(StoreCredentials {
                    access_key_id,
                    secret_access_key,
                })
            }
            (Err(p), _) | (_, Err(p)) => problems.push(p),
        }
    }
    if let Some(auth) = &spec.kafka_auth {
        if let Some(t) = &auth.tls_secret {
            must_exist.push((t.name.clone(), "spec.kafkaAuth.tlsSecret"));
        }
        if let Some(s) = &auth.sasl_secret {
            must_exist.push((s.name.clone(), "spec.kafkaAuth.saslSecret"));
        }
    }
    for (secret, field) in must_exist {
        let found = secrets
            .get_metadata_opt(&secret)
            .await
            .map_err(Error::kube("get", format!("Secret {secret}")))?;
        if found.is_none() {
            problems.push(Problem {
                field: field.into(),
                message: format!("Secret {secret:?} not found"),
            });
        }
    }

    let ips: BTreeMap<String, String> = pods
        .iter()
        .filter(|p| p.phase == PodPhase::Running && !p.terminating)
        .filter_map(|p| p.ip.clone().map(|ip| (p.name.clone(), ip)))
        .collect();
    let probes = join_all(ips.iter().map(|(pod, ip)| {
        let token = token.as_deref();
        async move {
            let probe = match workers.status(ip, token).await {
                Ok(s) => WorkerProbe::Status(Box::new(s)),
                Err(e) => WorkerProbe::Unreachable(e.to_string()),
            };
            (pod.clone(), probe)
        }
    }))
    .await;
    problems.extend(validate::partition_count_problem(
        spec,
        probes.iter().filter_map(|(_, p)| p.status()),
    ));

    Ok(Fetched {
        observed: Observed {
            name,
            generation: job.metadata.generation.unwrap_or(0),
            spec: spec.clone(),
            status: job.status.clone().unwrap_or_default(),
            pods,
            workers: probes.into_iter().collect(),
            model_hash,
            problems,
            rejected_pod: None,
            stop_outcomes: Vec::new(),
            autoscaler: None,
            now,
        },
        token,
        ips,
        store_credentials,
    })
}
