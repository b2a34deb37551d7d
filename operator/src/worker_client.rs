//! The operator's side of the worker control API, bearer token from the job's Secret: over TLS to
//! `https://<ip in hex>.<job id>.workers.sluice.internal:8080`, verified against the operator's control CA
//! for that job ([`crate::control_tls`]), or `http://<podIP>:8080` for jobs with `spec.controlTls.mode:
//! Disabled`. One connection pool per kind for every worker, and the operator's timeouts, on the shared
//! `sluice_api::control_client`. Outcomes are typed so the decide step can tell a definite failure from
//! "no answer yet".

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use std::time::Duration;

use sluice_api::control::{CONTROL_PORT, StopResponse, TriggerResponse, WorkerStatus, host_port};
use sluice_api::control_client::{ControlClient, Timeouts, worker_tls_http};

use sluice_crds::worker_names as host;

pub use sluice_api::control_client::ClientError as CallError;

/// The HTTP clients (one set per operator).
#[derive(Clone)]
pub struct WorkerClient {
    plain: reqwest::Client,
    tls: Arc<RwLock<TlsClient>>,
}

/// The TLS client and the CA bundle it trusts.
struct TlsClient {
    bundle: String,
    http: reqwest::Client,
}

/// Status probes must not hold a reconcile up; a stop-with-savepoint uploads the full state, and the state
/// machine bounds it with its own timeout.
const TIMEOUTS: Timeouts = Timeouts {
    call: Duration::from_secs(3),
    stop: Duration::from_secs(600),
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

fn tls_client(bundle: &str) -> Result<reqwest::Client, reqwest::Error> {
    worker_tls_http(bundle.as_bytes(), Some(CONNECT_TIMEOUT))
}

impl WorkerClient {
    pub fn new() -> Result<WorkerClient, reqwest::Error> {
        Ok(WorkerClient {
            plain: reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build()?,
            tls: Arc::new(RwLock::new(TlsClient {
                bundle: String::new(),
                http: tls_client("")?,
            })),
        })
    }

    /// Trusts exactly the CAs of `bundle` for TLS calls from now on (a new client, with a new pool, only
    /// when the bundle changed).
    pub fn trust(&self, bundle: &str) -> Result<(), reqwest::Error> {
        let same = self.tls.read().map(|t| t.bundle == bundle).unwrap_or(false);
        if same {
            return Ok(());
        }
        let http = tls_client(bundle)?;
        if let Ok(mut t) = self.tls.write() {
            *t = TlsClient {
                bundle: bundle.to_string(),
                http,
            };
        }
        Ok(())
    }

    /// The calls to the workers of job `namespace/job`.
    /// The calls to the workers of job `namespace/job`; all over plain HTTP until
    /// [`JobWorkers::serving_tls`] names the pods that serve TLS.
    pub fn for_job(&self, namespace: &str, job: &str) -> JobWorkers {
        // A poisoned lock only means a panic elsewhere while swapping clients: the TLS client then trusts
        // nothing, so TLS calls fail rather than reach an unverified worker.
        let tls = self.tls.read().map(|t| t.http.clone()).ok();
        JobWorkers {
            plain: self.plain.clone(),
            tls,
            job: (namespace.to_string(), job.to_string()),
            tls_ips: BTreeSet::new(),
        }
    }
}

/// The control API calls to one job's workers, by pod IP.
#[derive(Clone)]
pub struct JobWorkers {
    plain: reqwest::Client,
    tls: Option<reqwest::Client>,
    /// (namespace, name) of the job whose certificate TLS workers must present.
    job: (String, String),
    /// The IPs of the pods that serve the control API over TLS (their pod spec gives them a certificate).
    tls_ips: BTreeSet<String>,
}

impl JobWorkers {
    /// Calls the pods at `ips` over TLS, the others over plain HTTP.
    pub fn serving_tls(mut self, ips: BTreeSet<String>) -> JobWorkers {
        self.tls_ips = ips;
        self
    }

    /// The client and base URL for the worker at `ip`.
    fn base(&self, ip: &str) -> (&reqwest::Client, String) {
        match &self.tls {
            Some(tls) if self.tls_ips.contains(ip) => {
                let (ns, job) = &self.job;
                // An unparsable IP gets a name the resolver refuses: the call fails, nothing else is reached.
                let host = host::worker_host(ns, job, ip)
                    .unwrap_or_else(|| format!("not-an-ip.{}", host::DOMAIN));
                (tls, format!("https://{host}:{CONTROL_PORT}"))
            }
            _ => (
                &self.plain,
                format!("http://{}", host_port(ip, CONTROL_PORT)),
            ),
        }
    }

    fn at(&self, ip: &str, token: Option<&str>) -> ControlClient {
        let (http, base) = self.base(ip);
        ControlClient::sharing(http, &base, token.map(str::to_string), TIMEOUTS)
    }

    /// `GET /v1/status`.
    pub async fn status(&self, ip: &str, token: Option<&str>) -> Result<WorkerStatus, CallError> {
        self.at(ip, token).status().await
    }

    /// `POST /v1/stop {"savepoint":true,"savepointId":id}`: answers once the final commit and savepoint are done.
    pub async fn stop_with_savepoint(
        &self,
        ip: &str,
        token: Option<&str>,
        savepoint_id: &str,
    ) -> Result<StopResponse, CallError> {
        self.at(ip, token)
            .stop(true, Some(savepoint_id.to_string()))
            .await
    }

    /// `POST /v1/savepoints {"id":id}`.
    pub async fn trigger_savepoint(
        &self,
        ip: &str,
        token: Option<&str>,
        savepoint_id: &str,
    ) -> Result<TriggerResponse, CallError> {
        self.at(ip, token)
            .trigger_savepoint(Some(savepoint_id.to_string()))
            .await
    }

    /// `POST /v1/checkpoints`.
    pub async fn trigger_checkpoint(
        &self,
        ip: &str,
        token: Option<&str>,
    ) -> Result<TriggerResponse, CallError> {
        self.at(ip, token).trigger_checkpoint().await
    }
}

#[cfg(test)]
mod tests {
    use super::WorkerClient;

    #[test]
    fn plain_urls_bracket_ipv6_and_tls_urls_name_the_job() {
        let client = WorkerClient::new().unwrap();
        let plain = client.for_job("ns", "job");
        assert_eq!(
            plain.base("fd00:10:244::7").1,
            "http://[fd00:10:244::7]:8080"
        );
        assert_eq!(plain.base("10.244.0.7").1, "http://10.244.0.7:8080");
        let url = format!("{}/v1/stop", plain.base("fd00::7").1);
        assert!(reqwest::Url::parse(&url).is_ok(), "{url}");
        // Per pod: the one whose spec gave it a certificate over TLS, the other (an older pod) plain.
        let tls = plain.serving_tls(["10.244.0.7".to_string()].into());
        assert_eq!(tls.base("10.244.0.8").1, "http://10.244.0.8:8080");
        let base = tls.base("10.244.0.7").1;
        let domain = sluice_crds::worker_names::job_domain("ns", "job");
        assert_eq!(base, format!("https://0af40007.{domain}:8080"));
        assert!(reqwest::Url::parse(&format!("{base}/v1/status")).is_ok());
    }
}
