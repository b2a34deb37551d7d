//! The operator's side of the worker control API (`http://<podIP>:8080`, bearer token from the job's
//! Secret): one connection pool for every worker, and the operator's timeouts, on the shared
//! `sluice_api::control_client`. Outcomes are typed so the decide step can tell a definite failure from "no
//! answer yet".

use std::time::Duration;

use sluice_api::control::{CONTROL_PORT, StopResponse, TriggerResponse, WorkerStatus, host_port};
use sluice_api::control_client::{ControlClient, Timeouts};

pub use sluice_api::control_client::ClientError as CallError;

/// The HTTP client (one per operator).
#[derive(Clone)]
pub struct WorkerClient {
    http: reqwest::Client,
}

/// Status probes must not hold a reconcile up; a stop-with-savepoint uploads the full state, and the state
/// machine bounds it with its own timeout.
const TIMEOUTS: Timeouts = Timeouts {
    call: Duration::from_secs(3),
    stop: Duration::from_secs(600),
};

impl WorkerClient {
    pub fn new() -> Result<WorkerClient, reqwest::Error> {
        Ok(WorkerClient {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .build()?,
        })
    }

    fn base(ip: &str) -> String {
        format!("http://{}", host_port(ip, CONTROL_PORT))
    }

    fn at(&self, ip: &str, token: Option<&str>) -> ControlClient {
        ControlClient::sharing(
            &self.http,
            &Self::base(ip),
            token.map(str::to_string),
            TIMEOUTS,
        )
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
    fn ipv6_pod_ips_are_bracketed_in_urls() {
        assert_eq!(
            WorkerClient::base("fd00:10:244::7"),
            "http://[fd00:10:244::7]:8080"
        );
        assert_eq!(WorkerClient::base("10.244.0.7"), "http://10.244.0.7:8080");
        let url = format!("{}/v1/stop", WorkerClient::base("fd00::7"));
        assert!(reqwest::Url::parse(&url).is_ok(), "{url}");
    }
}
