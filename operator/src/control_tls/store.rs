//! The Kubernetes side of control TLS: the CA Secret in the operator's namespace (created on first use,
//! rotated with an optimistic-concurrency replace so two replicas never both rotate) and each job's
//! certificate Secret (server-side applied, owned by the StreamJob so it goes with it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, ResourceExt};
use tokio::sync::Mutex;

use super::ca::{CaPlan, ControlCa, PkiError, not_after, now_unix};
use super::leaf::{self, Observed};
use crate::build::JobMeta;
use crate::error::Error;
use crate::naming::JOB_LABEL;
use crate::reconcile::Problem;

/// Keys of a job's certificate Secret (the `kubernetes.io/tls` layout plus the CA bundle).
pub const TLS_CERT_KEY: &str = "tls.crt";
pub const TLS_KEY_KEY: &str = "tls.key";
pub const CA_BUNDLE_KEY: &str = "ca.crt";
/// The annotation recording which CA issued a job's certificate.
pub const CA_ANNOTATION: &str = "sluice.dev/control-ca";

/// How long the loaded CA is used before the Secret is read again (to follow another replica's rotation).
const RECHECK: Duration = Duration::from_secs(300);

fn pki(what: &'static str) -> impl FnOnce(PkiError) -> Error {
    move |e| Error::Render {
        what,
        message: e.to_string(),
    }
}

fn managed_labels() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "app.kubernetes.io/managed-by".to_string(),
        crate::naming::FIELD_MANAGER.to_string(),
    )])
}

fn bytes(data: &Option<BTreeMap<String, ByteString>>) -> BTreeMap<String, Vec<u8>> {
    data.iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

/// The control CA, from the Secret `namespace/name`.
pub struct CaStore {
    namespace: String,
    name: String,
    loaded: Mutex<Option<(Arc<ControlCa>, Instant)>>,
}

impl CaStore {
    pub fn new(namespace: String, name: String) -> CaStore {
        CaStore {
            namespace,
            name,
            loaded: Mutex::new(None),
        }
    }

    /// The CA to issue with, reading (and if needed creating or rotating) the Secret at most every
    /// [`RECHECK`].
    pub async fn current(&self, client: &kube::Client) -> Result<Arc<ControlCa>, Error> {
        let mut loaded = self.loaded.lock().await;
        if let Some((ca, at)) = loaded.as_ref()
            && at.elapsed() < RECHECK
        {
            return Ok(Arc::clone(ca));
        }
        let api: Api<Secret> = Api::namespaced(client.clone(), &self.namespace);
        let ca = Arc::new(self.load_or_create(&api).await?);
        *loaded = Some((Arc::clone(&ca), Instant::now()));
        Ok(ca)
    }

    fn what(&self) -> String {
        format!("Secret {}/{}", self.namespace, self.name)
    }

    fn secret(&self, ca: &ControlCa, resource_version: Option<String>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(managed_labels()),
                resource_version,
                ..ObjectMeta::default()
            },
            data: Some(
                ca.to_data()
                    .into_iter()
                    .map(|(k, v)| (k, ByteString(v)))
                    .collect(),
            ),
            type_: Some("Opaque".into()),
            ..Secret::default()
        }
    }

    /// A conflicting create or replace means another replica wrote first: read again (a few times).
    async fn load_or_create(&self, api: &Api<Secret>) -> Result<ControlCa, Error> {
        let conflict = |e: &kube::Error| matches!(e, kube::Error::Api(s) if s.code == 409);
        for _ in 0..3 {
            let now = now_unix();
            let found = api
                .get_opt(&self.name)
                .await
                .map_err(Error::kube("get", self.what()))?;
            let Some(secret) = found else {
                let ca = ControlCa::generate(now, None).map_err(pki("the control CA"))?;
                match api
                    .create(&PostParams::default(), &self.secret(&ca, None))
                    .await
                {
                    Ok(_) => {
                        tracing::info!(secret = %self.what(), ca = %ca.id(), "control CA created");
                        return Ok(ca);
                    }
                    Err(e) if conflict(&e) => continue,
                    Err(e) => return Err(Error::kube("create", self.what())(e)),
                }
            };
            let ca = ControlCa::from_data(&bytes(&secret.data)).map_err(|e| Error::Render {
                what: "the control CA",
                message: format!(
                    "{}: {e}; delete the Secret to have a new CA made (job certificates are reissued)",
                    self.what()
                ),
            })?;
            if ca.plan(now) == CaPlan::Keep {
                return Ok(ca);
            }
            let next = ControlCa::generate(now, Some(&ca)).map_err(pki("the next control CA"))?;
            let replacement = self.secret(&next, secret.resource_version());
            match api
                .replace(&self.name, &PostParams::default(), &replacement)
                .await
            {
                Ok(_) => {
                    tracing::info!(secret = %self.what(), ca = %next.id(), previous = %ca.id(), "control CA rotated");
                    return Ok(next);
                }
                Err(e) if conflict(&e) => continue,
                Err(e) => return Err(Error::kube("replace", self.what())(e)),
            }
        }
        Err(Error::Render {
            what: "the control CA",
            message: format!("{} kept changing under three attempts", self.what()),
        })
    }
}

/// What the job's Secret holds, for [`leaf::renewal`].
fn observe(secret: &Secret, bundle: &str) -> Observed {
    let data = bytes(&secret.data);
    let text = |k: &str| data.get(k).and_then(|b| std::str::from_utf8(b).ok());
    Observed {
        ca_id: secret.annotations().get(CA_ANNOTATION).cloned(),
        not_after: text(TLS_CERT_KEY).and_then(not_after),
        complete: [TLS_CERT_KEY, TLS_KEY_KEY, CA_BUNDLE_KEY]
            .iter()
            .all(|k| data.get(*k).is_some_and(|v| !v.is_empty())),
        current_bundle: text(CA_BUNDLE_KEY) == Some(bundle),
    }
}

/// Makes sure the job's certificate Secret exists, was issued by `ca` and is not close to expiry. Returns
/// why it was (re)issued, if it was; a Secret of that name the job does not own is a problem on
/// `spec.controlTls`, never overwritten.
pub async fn ensure_job_certificate(
    client: &kube::Client,
    meta: &JobMeta,
    ca: &ControlCa,
) -> Result<Result<Option<&'static str>, Problem>, Error> {
    let name = sluice_crds::control_tls::secret_name(&meta.name);
    let api: Api<Secret> = Api::namespaced(client.clone(), &meta.namespace);
    let what = format!("Secret {}/{name}", meta.namespace);
    let found = api
        .get_opt(&name)
        .await
        .map_err(Error::kube("get", what.clone()))?;
    let now = now_unix();
    let bundle = ca.trust_bundle(now);
    // A Secret of a previous StreamJob of the same name (deleted and created again before the garbage
    // collector removed it) is taken over; any other Secret of that name is the user's.
    let ours = |s: &Secret| {
        s.owner_references().iter().any(|o| {
            o.uid == meta.uid()
                || (o.kind == "StreamJob"
                    && o.name == meta.name
                    && o.api_version == meta.owner.api_version)
        })
    };
    if let Some(s) = &found
        && !ours(s)
    {
        return Ok(Err(Problem {
            field: "spec.controlTls".into(),
            message: format!(
                "Secret {name:?} exists and is not owned by this StreamJob: rename it, or set spec.controlTls.mode: Disabled"
            ),
        }));
    }
    let observed = found.as_ref().map(|s| observe(s, &bundle));
    let inherited = found
        .as_ref()
        .is_some_and(|s| !s.owner_references().iter().any(|o| o.uid == meta.uid()));
    let reason = if inherited {
        Some("left by a previous StreamJob of this name")
    } else {
        leaf::renewal(observed.as_ref(), ca, now)
    };
    let Some(reason) = reason else {
        return Ok(Ok(None));
    };
    let cert = leaf::issue(ca, &meta.namespace, &meta.name, now)
        .map_err(pki("a job control certificate"))?;
    let mut labels = managed_labels();
    labels.insert(JOB_LABEL.into(), meta.name.clone());
    let mut object_meta = meta.meta(name, labels);
    object_meta.annotations = Some(BTreeMap::from([(
        CA_ANNOTATION.to_string(),
        cert.ca_id.clone(),
    )]));
    let secret = Secret {
        metadata: object_meta,
        data: Some(BTreeMap::from([
            (
                TLS_CERT_KEY.to_string(),
                ByteString(cert.cert_pem.into_bytes()),
            ),
            (
                TLS_KEY_KEY.to_string(),
                ByteString(cert.key_pem.into_bytes()),
            ),
            (CA_BUNDLE_KEY.to_string(), ByteString(bundle.into_bytes())),
        ])),
        type_: Some("kubernetes.io/tls".into()),
        ..Secret::default()
    };
    crate::apply::ssa(&api, &secret).await?;
    tracing::info!(secret = %what, ca = %cert.ca_id, reason, "job control certificate issued");
    Ok(Ok(Some(reason)))
}
