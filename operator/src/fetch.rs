//! Stage "fetch", I/O only: the job's pods, the objects its spec refers to (token Secret, model ConfigMap,
//! credential Secrets) and each running worker's `GET /v1/status`. Missing references become problems
//! naming the field instead of errors (`validate` reports them with the spec's own), so the job's status
//! can say what to fix.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::join_all;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use sluice_crds::worker_env;
use sluice_crds::{StreamJob, StreamJobSpec};

use crate::error::Error;
use crate::fingerprint::data_hash;
use crate::reconcile::{Observed, ObservedPod, PodPhase, Problem, WorkerProbe};
use crate::worker_client::JobWorkers;
use crate::{naming, pod_health};
use sluice_store::S3Credentials;

/// What fetch returns besides the observed world: the control token for the apply stage.
pub struct Fetched {
    pub observed: Observed,
    pub token: Option<String>,
    /// Pod name → IP (for worker calls in the apply stage).
    pub ips: BTreeMap<String, String>,
    /// Checkpoint store credentials from `spec.storage.credentialsSecret` (for deleting savepoints).
    pub store_credentials: Option<S3Credentials>,
    /// The calls to the workers, each over TLS or plain HTTP as its own pod serves it.
    pub workers: JobWorkers,
}

/// Whether the pod's worker container was given a control certificate (so serves only TLS). Decided per
/// pod, not from the spec: while `spec.controlTls` changes, or after an operator upgrade, pods built
/// under the other setting keep running until the upgrade replaces them, and must still be reached.
fn serves_tls(pod: &Pod) -> bool {
    pod.spec
        .iter()
        .flat_map(|s| &s.containers)
        .filter(|c| c.name == crate::build::pod::WORKER_CONTAINER)
        .flat_map(|c| c.env.iter().flatten())
        .any(|e| e.name == worker_env::CONTROL_TLS_CERT_FILE)
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
        phase: pod_health::worker_phase(pod),
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

/// What the spec's references resolved to; a missing object or key is a problem naming the field.
#[derive(Default)]
struct References {
    token: Option<String>,
    model_hash: Option<String>,
    store_credentials: Option<S3Credentials>,
    problems: Vec<Problem>,
}

/// Gathers the observed world of `job`.
pub async fn observe(
    client: &kube::Client,
    workers: &JobWorkers,
    job: &StreamJob,
    now: Timestamp,
) -> Result<Fetched, Error> {
    let ns = job
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let name = job.name_any();
    let spec = &job.spec;
    let (pods, tls_ips) = owned_pods(client, &ns, &name, job.uid()).await?;
    let workers = workers.clone().serving_tls(tls_ips);
    let refs = references(client, &ns, job).await?;
    let ips: BTreeMap<String, String> = pods
        .iter()
        .filter(|p| p.phase == PodPhase::Running && !p.terminating)
        .filter_map(|p| p.ip.clone().map(|ip| (p.name.clone(), ip)))
        .collect();
    let probes = probe_workers(&workers, &ips, refs.token.as_deref()).await;
    Ok(Fetched {
        observed: Observed {
            name,
            // The API server sets it on every write; 0 only for an object that never went through one.
            generation: job.metadata.generation.unwrap_or(0),
            spec: spec.clone(),
            status: job.status.clone().unwrap_or_default(),
            pods,
            workers: probes,
            model_hash: refs.model_hash,
            reference_problems: refs.problems,
            rejected_pod: None,
            stop_outcomes: Vec::new(),
            autoscaler: None,
            now,
        },
        token: refs.token,
        ips,
        store_credentials: refs.store_credentials,
        workers,
    })
}

/// The job's worker pods: labelled with its selector and owned by this incarnation (uid).
async fn owned_pods(
    client: &kube::Client,
    ns: &str,
    name: &str,
    uid: Option<String>,
) -> Result<(Vec<ObservedPod>, BTreeSet<String>), Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector = naming::selector_string(name);
    let listed = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::kube("list", format!("pods {selector}")))?;
    let owned = listed.items.iter().filter(|p| {
        p.owner_references()
            .iter()
            .any(|o| Some(&o.uid) == uid.as_ref())
    });
    let tls_ips = owned
        .clone()
        .filter(|p| serves_tls(p))
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    Ok((owned.filter_map(observed_pod).collect(), tls_ips))
}

/// Resolves the control token, the model ConfigMap, the store credentials and the Kafka auth Secrets.
async fn references(client: &kube::Client, ns: &str, job: &StreamJob) -> Result<References, Error> {
    let spec = &job.spec;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut refs = References::default();
    if let Some(api) = &spec.control_api {
        let (name, key) = (&api.token_secret.name, &api.token_secret.key);
        match secret_key(&secrets, name, key, "spec.controlApi.tokenSecret").await? {
            Ok(t) => refs.token = Some(t),
            Err(p) => refs.problems.push(p),
        }
    }
    if let Some(model) = &spec.model {
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let (name, key) = (&model.config_map.name, &model.config_map.key);
        let (hash, problem) = model_data_hash(&config_maps, name, key).await?;
        refs.model_hash = hash;
        refs.problems.extend(problem);
    }
    if let Some(c) = &spec.storage.credentials_secret {
        let field = "spec.storage.credentialsSecret";
        let id = secret_key(&secrets, &c.name, worker_env::AWS_ACCESS_KEY_ID, field).await?;
        let key = secret_key(&secrets, &c.name, worker_env::AWS_SECRET_ACCESS_KEY, field).await?;
        match (id, key) {
            (Ok(access_key_id), Ok(secret_access_key)) => {
                refs.store_credentials = Some(S3Credentials {
                    access_key_id,
                    secret_access_key,
                })
            }
            (Err(p), _) | (_, Err(p)) => refs.problems.push(p),
        }
    }
    let mut kafka_secrets: Vec<(String, &str)> = Vec::new();
    if let Some(auth) = &spec.kafka_auth {
        if let Some(t) = &auth.tls_secret {
            kafka_secrets.push((t.name.clone(), "spec.kafkaAuth.tlsSecret"));
        }
        if let Some(s) = &auth.sasl_secret {
            kafka_secrets.push((s.name.clone(), "spec.kafkaAuth.saslSecret"));
        }
    }
    refs.problems
        .extend(state_keys_problem(&secrets, spec).await?);
    for (secret, field) in kafka_secrets {
        let found = secrets
            .get_metadata_opt(&secret)
            .await
            .map_err(Error::kube("get", format!("Secret {secret}")))?;
        if found.is_none() {
            refs.problems.push(Problem {
                field: field.into(),
                message: format!("Secret {secret:?} not found"),
            });
        }
    }
    Ok(refs)
}

/// The state encryption keys Secret must exist and hold the current key (its value is not kept: only the
/// workers use it).
async fn state_keys_problem(
    secrets: &Api<Secret>,
    spec: &StreamJobSpec,
) -> Result<Option<Problem>, Error> {
    let (Some(keys), Some(enc)) = (
        &spec.storage.encryption_keys_secret,
        &spec.job.state.encryption,
    ) else {
        return Ok(None);
    };
    let name = &keys.name;
    let found = secrets
        .get_opt(name)
        .await
        .map_err(Error::kube("get", format!("Secret {name}")))?;
    let has_current = found.map(|s| s.data.unwrap_or_default().contains_key(&enc.current_key));
    let message = match has_current {
        None => format!("Secret {name:?} not found"),
        Some(false) => format!(
            "Secret {name:?} has no key {:?} (spec.job.state.encryption.currentKey); add it (32 bytes in base64)",
            enc.current_key
        ),
        Some(true) => return Ok(None),
    };
    Ok(Some(Problem {
        field: "spec.storage.encryptionKeysSecret".into(),
        message,
    }))
}

/// The hash of the model ConfigMap's data, and a problem when it or its key is missing. (A missing key still
/// yields the hash: the problem blocks the rollout, the hash keeps the fingerprint honest.)
async fn model_data_hash(
    api: &Api<ConfigMap>,
    name: &str,
    key: &str,
) -> Result<(Option<String>, Option<Problem>), Error> {
    let field = "spec.model.configMap";
    let problem = |message: String| Problem {
        field: field.into(),
        message,
    };
    let found = api
        .get_opt(name)
        .await
        .map_err(Error::kube("get", format!("ConfigMap {name}")))?;
    let Some(cm) = found else {
        return Ok((None, Some(problem(format!("ConfigMap {name:?} not found")))));
    };
    let data = cm.data.unwrap_or_default();
    let missing_key = (!data.contains_key(key))
        .then(|| problem(format!("ConfigMap {name:?} has no key {key:?}")));
    Ok((Some(data_hash(data.iter())), missing_key))
}

/// `GET /v1/status` on every running worker, concurrently.
async fn probe_workers(
    workers: &JobWorkers,
    ips: &BTreeMap<String, String>,
    token: Option<&str>,
) -> BTreeMap<String, WorkerProbe> {
    join_all(ips.iter().map(|(pod, ip)| probe(workers, pod, ip, token)))
        .await
        .into_iter()
        .collect()
}

async fn probe(
    workers: &JobWorkers,
    pod: &str,
    ip: &str,
    token: Option<&str>,
) -> (String, WorkerProbe) {
    let probe = match workers.status(ip, token).await {
        Ok(s) => WorkerProbe::Status(Box::new(s)),
        Err(e) => WorkerProbe::Unreachable(e.to_string()),
    };
    (pod.to_string(), probe)
}
