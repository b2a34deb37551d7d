//! The worker's side services, started before recovery: an async runtime, the control API and metrics
//! servers, the snapshot service (when a checkpoint store is configured) and the lag poller.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sluice_api::control::{WorkerPhase, WorkerStatus};

use super::WorkerConfig;
use super::accounting::HighWatermarks;
use crate::audit::AuditSink;
use crate::audit::sink::DecisionsLog;
use crate::control::StatusBoard;
use crate::control::access::Access;
use crate::control::auth::TokenFile;
use crate::control::oidc::OidcVerifier;
use crate::control::server::{
    ControlState, TlsFiles, control_router, metrics_router, serve, serve_tls,
};
use crate::kafka::credential_rotation::RotationFollower;
use crate::metrics::Metrics;
use crate::snapshot::SnapshotError;
use crate::snapshot::service::{ServiceConfig, SnapshotService};
use sluice_api::snapshot_layout::Layout;
use sluice_api::worker_env;
use sluice_store::keys::job_keyring_from_env;
use sluice_store::{ObjectStore, SealError, StoreError};

/// Why the side services could not start (all configuration or environment problems).
#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{field}: {addr:?} is not a valid listen address")]
    Addr { field: &'static str, addr: String },
    #[error("binding the {what} server on {addr}: {source} (is the port in use?)")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Token(#[from] crate::control::auth::TokenError),
    #[error("control API: building the HTTP client for the OIDC issuer's keys: {0}")]
    HttpClient(reqwest::Error),
    #[error("checkpoint store: {0}")]
    Store(#[from] StoreError),
    #[error("checkpoint store: {0}")]
    Keys(#[from] SealError),
    #[error("checkpoint store: {0}")]
    Snapshot(#[from] SnapshotError),
    #[error("audit: the table cannot be opened: {0}")]
    Audit(#[from] crate::audit::AuditSinkError),
    #[error(
        "audit: set state.checkpointStore — the audit table is appended when a durable checkpoint completes"
    )]
    AuditWithoutStore,
    #[error(
        "audit: the decisions topic has {decisions} partitions but the inputs have {inputs}; the audit table needs them equal (one writer per decisions partition), so repartition the decisions topic or remove audit"
    )]
    AuditPartitions { decisions: i32, inputs: usize },
}

/// Everything started here; dropping it stops the servers and the lag poller.
pub struct Services {
    pub runtime: tokio::runtime::Runtime,
    pub metrics: Arc<Metrics>,
    pub board: Arc<StatusBoard>,
    pub store: Option<ObjectStore>,
    pub layout: Layout,
    pub snapshots: Option<SnapshotService>,
    pub highs: HighWatermarks,
    lag_stop: Arc<AtomicBool>,
}

impl Drop for Services {
    fn drop(&mut self) {
        self.lag_stop.store(true, Ordering::Relaxed);
    }
}

fn parse_addr(field: &'static str, addr: String) -> Result<SocketAddr, ServicesError> {
    addr.parse()
        .map_err(|_| ServicesError::Addr { field, addr })
}

impl Services {
    /// `input_partitions`: the input topics' partition count, reported in the status for the operator.
    pub fn start(
        cfg: &WorkerConfig,
        model_version: &str,
        input_partitions: usize,
        decisions_log: DecisionsLog,
    ) -> Result<Services, ServicesError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sluice-io")
            .enable_all()
            .build()
            .map_err(ServicesError::Runtime)?;
        let metrics = Arc::new(Metrics::new());
        let restarts = count_start(Path::new(&cfg.job.state.dir));
        metrics.restarts.inc_by(restarts);
        let board = StatusBoard::new(initial_status(cfg, model_version, input_partitions));
        let layout = Layout::new(&cfg.job.transactional_id_prefix);
        let store = match &cfg.job.state.checkpoint_store {
            Some(uri) => {
                let keyring = job_keyring_from_env(cfg.job.state.encryption.as_ref())?;
                let store = runtime.block_on(ObjectStore::open(uri, &cfg.job.state.s3))?;
                Some(store.with_keyring(keyring))
            }
            None => None,
        };
        let audit = open_audit(
            cfg,
            &runtime,
            store.as_ref(),
            decisions_log,
            input_partitions,
        )?;
        let snapshots = match &store {
            Some(store) => Some(SnapshotService::start(
                runtime.handle(),
                snapshot_config(cfg, model_version, store, &layout, audit),
                Arc::clone(&metrics),
            )?),
            None => None,
        };
        let access = control_access(cfg)?;
        let (control_addr, metrics_addr) = listen_addrs(cfg)?;
        let state = ControlState {
            board: Arc::clone(&board),
            access,
            snapshots: snapshots.as_ref().map(|s| Arc::clone(&s.shared)),
        };
        runtime.block_on(serve_control_and_metrics(
            cfg,
            state,
            control_addr,
            metrics_addr,
            &metrics,
        ))?;
        Ok(Services {
            runtime,
            metrics,
            board,
            store,
            layout,
            snapshots,
            highs: Arc::new(Mutex::new(BTreeMap::new())),
            lag_stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Polls the log-end offsets of the owned input partitions every few seconds on its own thread (a
    /// metadata request must never stall the processing loop).
    pub fn start_lag_poller(
        &self,
        config: &ClientConfig,
        topics: [String; 3],
        partitions: Vec<i32>,
        mut rotation: Option<RotationFollower>,
    ) {
        let Ok(mut consumer) = config.create::<BaseConsumer>() else {
            tracing::warn!("could not create the lag poller's consumer; lag will not be reported");
            return;
        };
        let highs = Arc::clone(&self.highs);
        let stop = Arc::clone(&self.lag_stop);
        let config = config.clone();
        let spawned = std::thread::Builder::new()
            .name("sluice-lag".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(s) = rotation.as_mut().filter(|s| s.pending()) {
                        consumer = renewed(&config, s).unwrap_or(consumer);
                    }
                    for &p in &partitions {
                        let mut hi = [0i64; 3];
                        let mut ok = true;
                        for (slot, t) in hi.iter_mut().zip(&topics) {
                            match consumer.fetch_watermarks(t, p, Duration::from_secs(5)) {
                                Ok((_, h)) => *slot = h,
                                Err(_) => ok = false,
                            }
                        }
                        if ok && let Ok(mut g) = highs.lock() {
                            g.insert(p, hi);
                        }
                    }
                    for _ in 0..20 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the lag poller");
        }
    }
}

/// The lag poller's consumer again, with rotated credentials; `None` (keep the old one) when it cannot
/// be created.
fn renewed(config: &ClientConfig, rotation: &mut RotationFollower) -> Option<BaseConsumer> {
    let mut config = config.clone();
    rotation.configure(&mut config);
    match config.create() {
        Ok(consumer) => Some(consumer),
        Err(e) => {
            tracing::warn!(error = %e, "could not renew the lag poller's consumer");
            None
        }
    }
}

/// Counts process starts on this state directory; returns the restarts (starts − 1).
fn count_start(state_dir: &Path) -> u64 {
    let path = state_dir.join("starts");
    let previous = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let _ = std::fs::create_dir_all(state_dir);
    if let Err(e) = std::fs::write(&path, format!("{}\n", previous + 1)) {
        tracing::warn!(error = %e, "could not record the start count");
    }
    previous
}

/// The status published until the loop's first report: recovering, nothing known yet.
fn initial_status(
    cfg: &WorkerConfig,
    model_version: &str,
    input_partitions: usize,
) -> WorkerStatus {
    WorkerStatus {
        worker: cfg.worker.identity.clone(),
        job: cfg.job.transactional_id_prefix.clone(),
        model_version: model_version.into(),
        phase: WorkerPhase::Recovering,
        partitions: vec![],
        last_checkpoint: None,
        last_savepoint: None,
        consecutive_failed_checkpoints: 0,
        state_bytes: 0,
        busy_ratio: 0.0,
        input_partitions: u32::try_from(input_partitions).ok(),
    }
}

/// Opens the audit table when the job has one; it needs a checkpoint store and one decisions partition per
/// input partition.
fn open_audit(
    cfg: &WorkerConfig,
    runtime: &tokio::runtime::Runtime,
    store: Option<&ObjectStore>,
    decisions_log: DecisionsLog,
    input_partitions: usize,
) -> Result<Option<AuditSink>, ServicesError> {
    match (&cfg.job.audit, store) {
        (None, _) => Ok(None),
        (Some(_), None) => Err(ServicesError::AuditWithoutStore),
        (Some(_), Some(_))
            if usize::try_from(decisions_log.partitions).ok() != Some(input_partitions) =>
        {
            Err(ServicesError::AuditPartitions {
                decisions: decisions_log.partitions,
                inputs: input_partitions,
            })
        }
        (Some(spec), Some(_)) => {
            let table = crate::audit::config::table_config(&cfg.job, spec);
            Ok(Some(runtime.block_on(AuditSink::open(
                table,
                crate::audit::keys::AuditKeys::from_env(),
                decisions_log,
            ))?))
        }
    }
}

/// The snapshot service's settings for this worker.
fn snapshot_config(
    cfg: &WorkerConfig,
    model_version: &str,
    store: &ObjectStore,
    layout: &Layout,
    audit: Option<AuditSink>,
) -> ServiceConfig {
    ServiceConfig {
        store: store.clone(),
        layout: layout.clone(),
        job: cfg.job.transactional_id_prefix.clone(),
        worker: cfg.worker.identity.clone(),
        model_version: model_version.into(),
        state_root: cfg.job.state.dir.clone().into(),
        retained: usize::try_from(cfg.job.state.retained_checkpoints).unwrap_or(3),
        concurrency: usize::try_from(cfg.job.state.s3.max_concurrency).unwrap_or(8),
        lineage: cfg.worker.lineage.clone(),
        audit,
    }
}

/// Who may call the control API: the bearer token file and the OIDC issuer, if configured (warns when
/// neither is).
fn control_access(cfg: &WorkerConfig) -> Result<Access, ServicesError> {
    let token = cfg
        .worker
        .control_token_file
        .as_deref()
        .map(|f| TokenFile::open(Path::new(f)).map(Arc::new))
        .transpose()?;
    let oidc = cfg
        .worker
        .control_oidc
        .clone()
        .map(|o| OidcVerifier::new(o).map(Arc::new))
        .transpose()
        .map_err(ServicesError::HttpClient)?;
    if token.is_none() && oidc.is_none() {
        tracing::warn!(
            "no control API token file or OIDC issuer configured: /v1/* answers 401 to everyone"
        );
    }
    Ok(Access { token, oidc })
}

/// The control API's and the metrics server's listen addresses (by default on the pod's IP).
fn listen_addrs(cfg: &WorkerConfig) -> Result<(SocketAddr, SocketAddr), ServicesError> {
    let pod_ip = std::env::var(worker_env::POD_IP)
        .ok()
        .filter(|s| !s.is_empty());
    let control_addr = parse_addr(
        "worker.controlAddr",
        cfg.worker.control_addr(pod_ip.as_deref()),
    )?;
    let metrics_addr = parse_addr(
        "worker.metricsAddr",
        cfg.worker.metrics_addr(pod_ip.as_deref()),
    )?;
    Ok((control_addr, metrics_addr))
}

/// Binds and serves the control API (with TLS when a certificate and key are configured), then metrics.
async fn serve_control_and_metrics(
    cfg: &WorkerConfig,
    state: ControlState,
    control_addr: SocketAddr,
    metrics_addr: SocketAddr,
    metrics: &Arc<Metrics>,
) -> Result<(), ServicesError> {
    let router = control_router(state);
    let tls = match (
        &cfg.worker.control_tls_cert_file,
        &cfg.worker.control_tls_key_file,
    ) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
        }),
        _ => None,
    };
    match &tls {
        Some(tls) => serve_tls(control_addr, router, "control", tls).await,
        None => serve(control_addr, router, "control").await,
    }
    .map_err(|source| ServicesError::Bind {
        what: "control API",
        addr: control_addr,
        source,
    })?;
    serve(metrics_addr, metrics_router(Arc::clone(metrics)), "metrics")
        .await
        .map_err(|source| ServicesError::Bind {
            what: "metrics",
            addr: metrics_addr,
            source,
        })?;
    Ok(())
}
