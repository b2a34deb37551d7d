//! Messages of the worker's control API, shared by the worker (server), the `sluice` CLI and the operator
//! (clients) so both sides agree on every field.
//!
//! Routes ([`route`]): `GET /healthz`, `GET /readyz` (open); with `Authorization: Bearer <token>`:
//! `GET /v1/status`, `POST /v1/checkpoints`, `POST /v1/savepoints`, `GET /v1/savepoints/{id}`, `POST /v1/stop`.
//! The one client of these routes is `crate::control_client` (feature `client`).

use serde::{Deserialize, Serialize};

/// Default port of the control API (health, readiness, `/v1/*`).
pub const CONTROL_PORT: u16 = 8080;
/// Default port of the Prometheus `/metrics` endpoint.
pub const METRICS_PORT: u16 = 9091;

/// The control API's routes, served by the worker and called by the client: written once.
pub mod route {
    /// Liveness (open).
    pub const HEALTHZ: &str = "/healthz";
    /// Readiness (open): 200 once the worker has recovered and is processing.
    pub const READYZ: &str = "/readyz";
    /// `GET`: [`WorkerStatus`](super::WorkerStatus).
    pub const STATUS: &str = "/v1/status";
    /// `POST`: trigger a checkpoint.
    pub const CHECKPOINTS: &str = "/v1/checkpoints";
    /// `POST`: trigger a savepoint ([`SavepointRequest`](super::SavepointRequest)).
    pub const SAVEPOINTS: &str = "/v1/savepoints";
    /// `GET`: one savepoint, as the server's router pattern; [`savepoint`] fills it in.
    pub const SAVEPOINT: &str = "/v1/savepoints/{id}";
    /// `POST`: stop, optionally with a final savepoint ([`StopRequest`](super::StopRequest)).
    pub const STOP: &str = "/v1/stop";

    /// The path of savepoint `id`.
    pub fn savepoint(id: &str) -> String {
        SAVEPOINT.replace("{id}", id)
    }
}

/// `host:port`, with an IPv6 address in brackets (`[fd00::7]:8080`) as socket addresses and URLs need it;
/// names and IPv4 addresses unchanged (`10.0.0.7:8080`).
pub fn host_port(host: &str, port: u16) -> String {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, port).to_string(),
        Err(_) => format!("{host}:{port}"),
    }
}

/// Where a worker is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerPhase {
    /// Fencing old producers, reading the committed frontier, restoring state.
    Recovering,
    /// Processing and committing.
    Running,
    /// Stop requested: final commit and optional savepoint in progress.
    Stopping,
    /// Final commit (and savepoint) done; the process is about to exit 0.
    Stopped,
}

/// `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStatus {
    /// The worker's identity (its pod name under the operator).
    pub worker: String,
    /// The job (`transactionalIdPrefix`).
    pub job: String,
    pub model_version: String,
    pub phase: WorkerPhase,
    pub partitions: Vec<PartitionStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkpoint: Option<SnapshotInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_savepoint: Option<SnapshotInfo>,
    /// Checkpoints failed in a row (reset by a success); the worker exits past `tolerableFailedCheckpoints`.
    pub consecutive_failed_checkpoints: u32,
    /// Sum of the partitions' local state bytes.
    pub state_bytes: u64,
    /// Fraction of wall time spent processing over the last metrics interval, 0..=1 (autoscaler input).
    pub busy_ratio: f64,
    /// Partition count of the (co-partitioned) input topics, as found at start-up. The operator compares it
    /// with `spec.partitions`: a smaller spec would leave partitions without a worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_partitions: Option<u32>,
}

/// One owned input partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionStatus {
    pub partition: i32,
    /// Committed next offsets per input topic (job topic order: authorizations, device-telemetry,
    /// account-changes).
    pub committed_offsets: [i64; 3],
    /// Records behind the log end, summed over the input topics (None until first measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark_ms: Option<i64>,
    pub state_bytes: u64,
    /// Authorizations processed per second over the last metrics interval.
    pub processed_per_sec: f64,
}

/// A completed or pending snapshot as the worker reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotInfo {
    pub id: String,
    pub state: SnapshotState,
    /// Once completed: the snapshot's location. For a savepoint this is the savepoint directory
    /// (`s3://bucket/prefix/<job>/savepoints/<id>`), holding one `<worker>.json` manifest per worker plus the
    /// files; it is what `SLUICE_RESTORE_FROM` / `initialSavepointPath` take. For a checkpoint, the manifest URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bytes uploaded by this snapshot (incremental for checkpoints, everything for savepoints).
    pub uploaded_bytes: u64,
    /// Total state bytes the snapshot references.
    pub state_bytes: u64,
    /// Time from trigger to manifest written, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotState {
    Pending,
    Completed,
    Failed,
}

/// `POST /v1/checkpoints` and `POST /v1/savepoints` answer with the new snapshot's id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerResponse {
    pub id: String,
}

/// `POST /v1/savepoints` body (optional). The operator passes the same id to every worker of a job so one
/// savepoint directory holds one manifest per worker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SavepointRequest {
    /// Savepoint id (`[a-z0-9-]`, ≤ 63 chars). Absent: the worker picks `sp-<unix ms>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `POST /v1/stop` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StopRequest {
    /// Take a savepoint after the final commit (stop-with-savepoint).
    #[serde(default)]
    pub savepoint: bool,
    /// Id of that savepoint (see [`SavepointRequest::id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_id: Option<String>,
}

/// `POST /v1/stop` answer, sent once the final commit (and savepoint) completed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint: Option<SnapshotInfo>,
}

/// Every non-2xx answer of the control API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// Machine-readable category, e.g. `unauthorized`, `bad-request`, `not-found`, `conflict`, `unavailable`.
    pub error: String,
    /// What was wrong and how to fix it.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_request_rejects_unknown_fields_and_defaults_savepoint_off() {
        let ok: StopRequest = serde_json::from_str("{}").unwrap();
        assert!(!ok.savepoint);
        let sp: StopRequest = serde_json::from_str(r#"{"savepoint":true}"#).unwrap();
        assert!(sp.savepoint);
        assert!(serde_json::from_str::<StopRequest>(r#"{"savepiont":true}"#).is_err());
    }

    #[test]
    fn status_uses_camel_case_and_kebab_enums() {
        let s = WorkerStatus {
            worker: "fraud-0".into(),
            job: "fraud".into(),
            model_version: "fraud-v1".into(),
            phase: WorkerPhase::Running,
            partitions: vec![],
            last_checkpoint: None,
            last_savepoint: Some(SnapshotInfo {
                id: "sp-1".into(),
                state: SnapshotState::Completed,
                location: Some("s3://b/p".into()),
                error: None,
                uploaded_bytes: 1,
                state_bytes: 2,
                duration_ms: Some(3),
            }),
            consecutive_failed_checkpoints: 0,
            state_bytes: 0,
            busy_ratio: 0.5,
            input_partitions: Some(4),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"phase\":\"running\""), "{json}");
        assert!(json.contains("\"lastSavepoint\""), "{json}");
        let back: WorkerStatus = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
