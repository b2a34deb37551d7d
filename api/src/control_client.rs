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
    use super::{ControlClient, Timeouts};

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
}
