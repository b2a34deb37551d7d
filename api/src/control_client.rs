//! The one client of the worker's control API ([`crate::control`]), used by the operator, the `sluice` CLI,
//! the benchmarks and the tests (feature `client`).
//!
//! Outcomes are typed so a caller can tell a definite answer ([`ClientError::Rejected`]: the worker said
//! no, or said something unreadable) from no answer ([`ClientError::Unreachable`]: refused, reset, timed out
//! — the outcome is unknown). The bearer token is never part of an error or a log line.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::control::{
    ApiError, SavepointRequest, SnapshotInfo, StopRequest, StopResponse, TriggerResponse,
    WorkerStatus, route,
};

/// Why a call produced no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The worker answered with an error, or with a body that is not the expected message: definite.
    #[error("{url} answered {status}: {error}: {reason}")]
    Rejected {
        url: String,
        status: u16,
        error: String,
        reason: String,
    },
    /// No (complete) answer: connection refused, reset, timeout… The outcome is unknown.
    #[error("calling {url}: {reason}")]
    Unreachable { url: String, reason: String },
}

/// How long calls may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Status, triggers and savepoint lookups.
    pub call: Duration,
    /// A stop, which may upload a final savepoint of the whole state first.
    pub stop: Duration,
}

impl Timeouts {
    /// For a person or a test waiting on one worker: generous, a savepoint of a large state takes minutes.
    pub const PATIENT: Timeouts = Timeouts {
        call: Duration::from_secs(900),
        stop: Duration::from_secs(900),
    };
}

/// An HTTP client for workers serving a job's control certificate: it trusts only the CAs in `ca_pem` (a
/// PEM bundle; none when empty, so every call fails) and resolves only worker names
/// ([`crate::worker_names`]), so it reaches nothing but a worker that holds its job's key.
pub fn worker_tls_http(
    ca_pem: &[u8],
    connect_timeout: Option<Duration>,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .https_only(true)
        .dns_resolver(std::sync::Arc::new(crate::worker_names::WorkerResolver));
    if let Some(t) = connect_timeout {
        builder = builder.connect_timeout(t);
    }
    if !ca_pem.is_empty() {
        for cert in reqwest::Certificate::from_pem_bundle(ca_pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build()
}

/// A worker of job `namespace/job`, checked as the operator checks it: the CAs to trust (the job Secret's
/// `ca.crt`) and the job whose certificate the worker must present.
#[derive(Debug, Clone, Copy)]
pub struct JobTls<'a> {
    pub ca_pem: &'a [u8],
    pub namespace: &'a str,
    pub job: &'a str,
}

/// One worker's control API: a base URL (`http://10.0.0.7:8080` or `https://…`) and its bearer token.
#[derive(Clone)]
pub struct ControlClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    timeouts: Timeouts,
}

impl ControlClient {
    /// `base` like `http://10.0.0.7:8080`; `token` the bearer token (None for the open routes only).
    pub fn new(base: &str, token: Option<String>) -> ControlClient {
        ControlClient::with_ca(base, token, None)
    }

    /// Like [`ControlClient::new`], trusting `ca_pem` (PEM) for an `https://` base. A CA that does not
    /// parse is left out, so calls to a server it signed fail with [`ClientError::Unreachable`].
    pub fn with_ca(base: &str, token: Option<String>, ca_pem: Option<&[u8]>) -> ControlClient {
        let mut builder = reqwest::Client::builder();
        if let Some(cert) = ca_pem.and_then(|pem| reqwest::Certificate::from_pem(pem).ok()) {
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().unwrap_or_default();
        ControlClient::sharing(&http, base, token, Timeouts::PATIENT)
    }

    /// A client for the worker at `base` (`https://<ip>:<port>`, e.g. a port-forward's
    /// `https://127.0.0.1:8080`) that must present `tls.job`'s certificate: the call goes to that address
    /// under the job's worker name ([`crate::worker_names::worker_host`]).
    pub fn for_job_worker(
        base: &str,
        token: Option<String>,
        tls: &JobTls<'_>,
    ) -> Result<ControlClient, ClientError> {
        let refuse = |reason: String| ClientError::Unreachable {
            url: base.to_string(),
            reason,
        };
        let url = reqwest::Url::parse(base).map_err(|e| refuse(e.to_string()))?;
        let ip = url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .filter(|h| h.parse::<std::net::IpAddr>().is_ok())
            .ok_or_else(|| {
                refuse("with a job's CA the worker must be given by IP address (its certificate names the job, not a host)".into())
            })?
            .to_string();
        let host = crate::worker_names::worker_host(tls.namespace, tls.job, &ip)
            .ok_or_else(|| refuse(format!("{ip} is not an IP address")))?;
        let port = url.port().unwrap_or(crate::control::CONTROL_PORT);
        let http = worker_tls_http(tls.ca_pem, None).map_err(|e| {
            refuse(format!(
                "the CA file does not parse as PEM certificates: {e}"
            ))
        })?;
        Ok(ControlClient::sharing(
            &http,
            &format!("https://{host}:{port}"),
            token,
            Timeouts::PATIENT,
        ))
    }

    /// A client on a shared connection pool (the operator keeps one `reqwest::Client` for every worker).
    pub fn sharing(
        http: &reqwest::Client,
        base: &str,
        token: Option<String>,
        timeouts: Timeouts,
    ) -> ControlClient {
        ControlClient {
            base: base.trim_end_matches('/').to_string(),
            token,
            http: http.clone(),
            timeouts,
        }
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<WorkerStatus, ClientError> {
        let req = self.http.get(self.url(route::STATUS));
        self.call(req, route::STATUS, self.timeouts.call).await
    }

    /// `POST /v1/checkpoints`.
    pub async fn trigger_checkpoint(&self) -> Result<TriggerResponse, ClientError> {
        let req = self.http.post(self.url(route::CHECKPOINTS));
        self.call(req, route::CHECKPOINTS, self.timeouts.call).await
    }

    /// `POST /v1/savepoints`, with the savepoint's id when the caller names it (idempotent retries).
    pub async fn trigger_savepoint(
        &self,
        id: Option<String>,
    ) -> Result<TriggerResponse, ClientError> {
        let req = self
            .http
            .post(self.url(route::SAVEPOINTS))
            .json(&SavepointRequest { id });
        self.call(req, route::SAVEPOINTS, self.timeouts.call).await
    }

    /// `GET /v1/savepoints/{id}`.
    pub async fn savepoint(&self, id: &str) -> Result<SnapshotInfo, ClientError> {
        let path = route::savepoint(id);
        let req = self.http.get(self.url(&path));
        self.call(req, &path, self.timeouts.call).await
    }

    /// `POST /v1/stop`: answers once the final commit (and savepoint, when asked for) is done.
    pub async fn stop(
        &self,
        savepoint: bool,
        savepoint_id: Option<String>,
    ) -> Result<StopResponse, ClientError> {
        let body = StopRequest {
            savepoint,
            savepoint_id,
        };
        let req = self.http.post(self.url(route::STOP)).json(&body);
        self.call(req, route::STOP, self.timeouts.stop).await
    }

    /// True when `/readyz` answers 200.
    pub async fn ready(&self) -> bool {
        self.http
            .get(self.url(route::READYZ))
            .timeout(self.timeouts.call)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        path: &str,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            url: url.clone(),
            reason: e.without_url().to_string(),
        };
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.timeout(timeout).send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(unreachable)?;
        let rejected = |error: String, reason: String| ClientError::Rejected {
            url: url.clone(),
            status,
            error,
            reason,
        };
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body)
                .map_err(|e| rejected("bad-response".into(), e.to_string()));
        }
        Err(match serde_json::from_slice::<ApiError>(&body) {
            Ok(api) => rejected(api.error, api.reason),
            Err(_) => rejected(
                "http".into(),
                String::from_utf8_lossy(&body).chars().take(300).collect(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{ControlClient, JobTls, Timeouts};
    use crate::worker_names::job_domain;

    #[test]
    fn urls_join_the_base_and_the_route_once() {
        let c = ControlClient::sharing(
            &reqwest::Client::new(),
            "http://[fd00::7]:8080/",
            None,
            Timeouts::PATIENT,
        );
        assert_eq!(c.url("/v1/status"), "http://[fd00::7]:8080/v1/status");
        assert!(reqwest::Url::parse(&c.url("/v1/stop")).is_ok());
    }

    #[test]
    fn a_job_worker_is_called_by_its_worker_name_at_the_given_address() {
        let tls = JobTls {
            ca_pem: b"",
            namespace: "fraud",
            job: "scoring",
        };
        let domain = job_domain("fraud", "scoring");
        let c = ControlClient::for_job_worker("https://127.0.0.1:18080", None, &tls).unwrap();
        assert_eq!(c.base, format!("https://7f000001.{domain}:18080"));
        let c = ControlClient::for_job_worker("https://[::1]", None, &tls).unwrap();
        assert_eq!(
            c.base,
            format!("https://00000000000000000000000000000001.{domain}:8080")
        );
        let by_name = ControlClient::for_job_worker("https://worker-0.example:8080", None, &tls);
        let Err(e) = by_name else {
            panic!("a host name was accepted")
        };
        assert!(e.to_string().contains("by IP address"), "{e}");
    }
}
