//! A typed client of the worker's control API (used by the `sluice` CLI and the tests).

use std::time::Duration;

use sluice_api::control::{
    ApiError, SavepointRequest, SnapshotInfo, StopRequest, StopResponse, TriggerResponse,
    WorkerStatus,
};

/// Why a control call failed. The token is never part of any message.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("calling {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{url} answered {status}: {error}: {reason}")]
    Api {
        url: String,
        status: u16,
        error: String,
        reason: String,
    },
}

/// One worker's control API.
pub struct ControlClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl ControlClient {
    /// `base` like `http://10.0.0.7:8080`; `token` the bearer token (None for open routes only).
    pub fn new(base: &str, token: Option<String>) -> ControlClient {
        ControlClient::with_ca(base, token, None)
    }

    /// Like [`ControlClient::new`], trusting `ca_pem` (PEM) for an `https://` base.
    pub fn with_ca(base: &str, token: Option<String>, ca_pem: Option<&[u8]>) -> ControlClient {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(900));
        if let Some(cert) = ca_pem.and_then(|pem| reqwest::Certificate::from_pem(pem).ok()) {
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().unwrap_or_default();
        ControlClient {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let transport = |e: reqwest::Error| ClientError::Transport {
            url: url.clone(),
            reason: e.without_url().to_string(),
        };
        let mut req = self.http.request(method, &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            let err: ApiError = serde_json::from_slice(&bytes).unwrap_or(ApiError {
                error: "http".into(),
                reason: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            });
            return Err(ClientError::Api {
                url,
                status: status.as_u16(),
                error: err.error,
                reason: err.reason,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Transport {
            url,
            reason: format!("unexpected answer: {e}"),
        })
    }

    pub async fn status(&self) -> Result<WorkerStatus, ClientError> {
        self.call(reqwest::Method::GET, "/v1/status", None).await
    }

    pub async fn trigger_checkpoint(&self) -> Result<TriggerResponse, ClientError> {
        self.call(reqwest::Method::POST, "/v1/checkpoints", None)
            .await
    }

    pub async fn trigger_savepoint(
        &self,
        id: Option<String>,
    ) -> Result<TriggerResponse, ClientError> {
        let body = serde_json::to_value(SavepointRequest { id }).unwrap_or_default();
        self.call(reqwest::Method::POST, "/v1/savepoints", Some(body))
            .await
    }

    pub async fn savepoint(&self, id: &str) -> Result<SnapshotInfo, ClientError> {
        self.call(reqwest::Method::GET, &format!("/v1/savepoints/{id}"), None)
            .await
    }

    pub async fn stop(
        &self,
        savepoint: bool,
        savepoint_id: Option<String>,
    ) -> Result<StopResponse, ClientError> {
        let body = serde_json::to_value(StopRequest {
            savepoint,
            savepoint_id,
        })
        .unwrap_or_default();
        self.call(reqwest::Method::POST, "/v1/stop", Some(body))
            .await
    }

    /// True when `/readyz` answers 200.
    pub async fn ready(&self) -> bool {
        self.http
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }
}
