//! Client of the worker control API (`http://<podIP>:8080`, bearer token from the job's Secret).
//! Outcomes are typed so the decide step can tell a definite failure from "no answer yet".

use std::time::Duration;

use serde::de::DeserializeOwned;
use sluice_crds::control::{
    ApiError, CONTROL_PORT, StopResponse, TriggerResponse, WorkerStatus, host_port,
};

/// Why a call produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The worker answered with an error: a definite outcome.
    #[error("{status}: {error}: {reason}")]
    Rejected {
        status: u16,
        error: String,
        reason: String,
    },
    /// No (complete) answer: connection refused, timeout, … The outcome is unknown.
    #[error("no answer: {0}")]
    Unreachable(String),
}

/// The HTTP client (one per operator).
#[derive(Clone)]
pub struct WorkerClient {
    http: reqwest::Client,
}

/// Status probes must not hold a reconcile up.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// A stop-with-savepoint uploads the full state; the state machine bounds it with its own timeout.
const STOP_TIMEOUT: Duration = Duration::from_secs(600);

impl WorkerClient {
    pub fn new() -> Result<WorkerClient, reqwest::Error> {
        Ok(WorkerClient {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .build()?,
        })
    }

    fn url(ip: &str, path: &str) -> String {
        format!("http://{}{path}", host_port(ip, CONTROL_PORT))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| CallError::Rejected {
                status: status.as_u16(),
                error: "bad-response".into(),
                reason: e.to_string(),
            });
        }
        let api: Option<ApiError> = serde_json::from_slice(&body).ok();
        Err(CallError::Rejected {
            status: status.as_u16(),
            error: api.as_ref().map(|a| a.error.clone()).unwrap_or_default(),
            reason: api
                .map(|a| a.reason)
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect()),
        })
    }

    /// `GET /v1/status`.
    pub async fn status(&self, ip: &str, token: Option<&str>) -> Result<WorkerStatus, CallError> {
        self.call(
            self.http.get(Self::url(ip, "/v1/status")),
            token,
            STATUS_TIMEOUT,
        )
        .await
    }

    /// `POST /v1/stop {"savepoint":true,"savepointId":id}`: answers once the final commit and savepoint are done.
    pub async fn stop_with_savepoint(
        &self,
        ip: &str,
        token: Option<&str>,
        savepoint_id: &str,
    ) -> Result<StopResponse, CallError> {
        let body = serde_json::json!({"savepoint": true, "savepointId": savepoint_id});
        self.call(
            self.http.post(Self::url(ip, "/v1/stop")).json(&body),
            token,
            STOP_TIMEOUT,
        )
        .await
    }

    /// `POST /v1/savepoints {"id":id}`.
    pub async fn trigger_savepoint(
        &self,
        ip: &str,
        token: Option<&str>,
        savepoint_id: &str,
    ) -> Result<TriggerResponse, CallError> {
        let body = serde_json::json!({"id": savepoint_id});
        self.call(
            self.http.post(Self::url(ip, "/v1/savepoints")).json(&body),
            token,
            STATUS_TIMEOUT,
        )
        .await
    }

    /// `POST /v1/checkpoints`.
    pub async fn trigger_checkpoint(
        &self,
        ip: &str,
        token: Option<&str>,
    ) -> Result<TriggerResponse, CallError> {
        self.call(
            self.http.post(Self::url(ip, "/v1/checkpoints")),
            token,
            STATUS_TIMEOUT,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::WorkerClient;

    #[test]
    fn ipv6_pod_ips_are_bracketed_in_urls() {
        assert_eq!(
            WorkerClient::url("fd00:10:244::7", "/v1/status"),
            "http://[fd00:10:244::7]:8080/v1/status"
        );
        assert_eq!(
            WorkerClient::url("10.244.0.7", "/v1/status"),
            "http://10.244.0.7:8080/v1/status"
        );
        let url = WorkerClient::url("fd00::7", "/v1/stop");
        assert!(reqwest::Url::parse(&url).is_ok(), "{url}");
    }
}
