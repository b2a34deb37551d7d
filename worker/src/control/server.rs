//! HTTP servers: the control API and `/metrics`. Both run on the worker's async runtime.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sluice_api::control::{
    ApiError, SavepointRequest, StopRequest, StopResponse, TriggerResponse, WorkerPhase, route,
};

use super::access::{Access, require_operate, require_read};
use super::board::{Command, StatusBoard};
use crate::metrics::Metrics;
use crate::snapshot::service::SnapshotShared;
use crate::snapshot::wall_clock_ms;
use sluice_api::snapshot_layout::valid_snapshot_id;

/// How long a stop-with-savepoint may take before the request gives up (the worker keeps going).
const STOP_TIMEOUT: Duration = Duration::from_secs(600);
const TRIGGER_TIMEOUT: Duration = Duration::from_secs(60);

/// What the handlers share.
#[derive(Clone)]
pub struct ControlState {
    pub board: Arc<StatusBoard>,
    /// Who may call `/v1/*`; with neither a token nor OIDC configured, nobody (secure by default).
    pub access: Access,
    /// None: no durable checkpoint store, so savepoints are unavailable.
    pub snapshots: Option<Arc<SnapshotShared>>,
}

pub(super) fn error(status: StatusCode, error: &str, reason: impl Into<String>) -> Response {
    let body = ApiError {
        error: error.into(),
        reason: reason.into(),
    };
    (status, axum::Json(body)).into_response()
}

/// The control API router.
pub fn control_router(state: ControlState) -> Router {
    let read = Router::new()
        .route(route::STATUS, get(status))
        .route(route::SAVEPOINT, get(get_savepoint))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_read));
    let operate = Router::new()
        .route(route::CHECKPOINTS, post(trigger_checkpoint))
        .route(route::SAVEPOINTS, post(trigger_savepoint))
        .route(route::STOP, post(stop))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_operate,
        ));
    Router::new()
        .route(route::HEALTHZ, get(|| async { "ok" }))
        .route(route::READYZ, get(ready))
        .merge(read)
        .merge(operate)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not-found", "no such route") })
        .with_state(state)
}

async fn ready(State(st): State<ControlState>) -> Response {
    match st.board.phase() {
        Some(WorkerPhase::Running) => (StatusCode::OK, "ready").into_response(),
        other => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {other:?}"),
        )
            .into_response(),
    }
}

async fn status(State(st): State<ControlState>) -> Response {
    match st.board.status() {
        Some(s) => axum::Json(s).into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "status not published yet",
        ),
    }
}

/// Waits for the loop's answer without blocking the async runtime.
async fn await_reply<T: Send + 'static>(
    rx: std::sync::mpsc::Receiver<T>,
    timeout: Duration,
) -> Option<T> {
    tokio::task::spawn_blocking(move || rx.recv_timeout(timeout).ok())
        .await
        .ok()
        .flatten()
}

/// Sends a snapshot command to the loop and answers 202 with the id it reports.
async fn trigger(
    st: &ControlState,
    command: impl FnOnce(std::sync::mpsc::Sender<Result<String, String>>) -> Command,
) -> Response {
    let (reply, rx) = std::sync::mpsc::channel();
    if !st.board.send(command(reply)) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the worker is stopping",
        );
    }
    match await_reply(rx, TRIGGER_TIMEOUT).await {
        Some(Ok(id)) => (StatusCode::ACCEPTED, axum::Json(TriggerResponse { id })).into_response(),
        Some(Err(reason)) => error(StatusCode::CONFLICT, "conflict", reason),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "no answer from the processing loop",
        ),
    }
}

async fn trigger_checkpoint(State(st): State<ControlState>) -> Response {
    trigger(&st, |reply| Command::Checkpoint { reply }).await
}

fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, Box<Response>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("invalid JSON body: {e}"),
        ))
    })
}

fn savepoint_id(requested: Option<String>) -> Result<String, Box<Response>> {
    let id = requested.unwrap_or_else(|| format!("sp-{}", wall_clock_ms()));
    if valid_snapshot_id(&id) {
        Ok(id)
    } else {
        Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("savepoint id {id:?} must be 1-63 characters of [a-z0-9-]"),
        )))
    }
}

async fn trigger_savepoint(State(st): State<ControlState>, body: Bytes) -> Response {
    if st.snapshots.is_none() {
        return error(
            StatusCode::CONFLICT,
            "conflict",
            "savepoints need a durable store: set job.state.checkpointStore",
        );
    }
    let req: SavepointRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let id = match savepoint_id(req.id) {
        Ok(id) => id,
        Err(resp) => return *resp,
    };
    trigger(&st, |reply| Command::Savepoint { id, reply }).await
}

async fn get_savepoint(State(st): State<ControlState>, Path(id): Path<String>) -> Response {
    match st.snapshots.as_ref().and_then(|s| s.savepoint(&id)) {
        Some(info) => axum::Json(info).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no savepoint {id:?} on this worker"),
        ),
    }
}

async fn stop(State(st): State<ControlState>, body: Bytes) -> Response {
    let req: StopRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let savepoint = if req.savepoint {
        if st.snapshots.is_none() {
            return error(
                StatusCode::CONFLICT,
                "conflict",
                "stop-with-savepoint needs a durable store: set job.state.checkpointStore",
            );
        }
        match savepoint_id(req.savepoint_id) {
            Ok(id) => Some(id),
            Err(resp) => return *resp,
        }
    } else {
        None
    };
    let (reply, rx) = std::sync::mpsc::channel();
    if !st.board.send(Command::Stop { savepoint, reply }) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the worker is already stopping",
        );
    }
    match await_reply(rx, STOP_TIMEOUT).await {
        Some(Ok(savepoint)) => axum::Json(StopResponse { savepoint }).into_response(),
        Some(Err(reason)) => error(StatusCode::INTERNAL_SERVER_ERROR, "stop-failed", reason),
        None => error(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "the stop did not finish in time",
        ),
    }
}

/// The `/metrics` router.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let m = Arc::clone(&metrics);
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.encode(),
                )
            }
        }),
    )
}

/// Certificate and key (PEM files) for serving the control API over TLS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// Like [`serve`], over TLS (rustls, ring provider); the certificate follows its files
/// ([`super::tls_reload`]).
pub async fn serve_tls(
    addr: SocketAddr,
    router: Router,
    what: &'static str,
    tls: &TlsFiles,
) -> std::io::Result<SocketAddr> {
    // Both ring and aws-lc-rs (the AWS SDK's default) are linked; rustls needs the choice made explicit.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key).await?;
    super::tls_reload::follow(config.clone(), tls.clone());
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let server = axum_server::tls_rustls::from_tcp_rustls(listener, config)?;
    tokio::spawn(async move {
        if let Err(e) = server.serve(router.into_make_service()).await {
            tracing::error!(server = what, error = %e, "HTTPS server stopped");
        }
    });
    tracing::info!(server = what, addr = %local, tls = true, "listening");
    Ok(local)
}

/// Binds and serves `router` on `addr` until the runtime shuts down. Bind errors are returned (a port clash
/// is a configuration error the operator must see), serve errors logged.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    what: &'static str,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(server = what, error = %e, "HTTP server stopped");
        }
    });
    tracing::info!(server = what, addr = %local, "listening");
    Ok(local)
}
