//! The Kafka worker: a task per owned input partition, a transactional commit loop, and recovery.
//!
//! Start-up order matters for exactly-once:
//! 1. check topics (inputs co-partitioned, outputs present) and create the progress log;
//! 2. fence the transactional ids of a previous assignment (after a rescale);
//! 3. `init_transactions` on our own id: aborts a dead predecessor's open transaction and fences zombies;
//! 4. read the committed offsets (the frontier) — only now is it final;
//! 5. recover every partition (checkpoint + replay to the frontier, output suppressed);
//! 6. run the loop from the frontier.

pub mod accounting;
pub mod checkpointer;
mod commands;
pub mod commit_flight;
pub mod config;
pub mod inbox;
pub mod inputs;
pub mod output_gate;
pub mod output_route;
pub mod recovery;
pub mod remote_restore;
pub mod round;
pub mod services;
pub mod snapshots;
pub mod startup;
pub mod task;
pub mod txn_loop;
mod txn_pacing;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::{BaseProducer, DefaultProducerContext, Producer, ThreadedProducer};
use sluice_api::JobConfig;
use sluice_api::job_config::KafkaConfig;
use sluice_core::model::ScoringModel;
use sluice_core::processor::JobParams;

use crate::audit::sink::DecisionsLog;
use crate::kafka::clients::{
    consumer_config, group_id, input_topics, producer_config, progress_topic, transactional_id,
};
use crate::kafka::credential_rotation::CredentialRotation;
use crate::kafka::progress_log::ProgressLogError;
use crate::kafka::topics::{TopicError, TopicLayout, check_layout, ensure_progress_topic};
use crate::kafka::{KafkaOpError, kerr};
use crate::state::RocksResources;
use accounting::Accounting;
pub use config::{WorkerAssignment, WorkerConfig};
use inputs::Inputs;
use recovery::RecoveryError;
use remote_restore::RemoteSnapshots;
use services::Services;
use sluice_api::control::WorkerPhase;
use sluice_store::ObjectStore;
use snapshots::Snapshotter;
use task::PartitionTask;
pub use txn_loop::LoopStats;
use txn_loop::{LoopError, LoopExit, TxnLoop};

const INIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the worker stopped. The process exits non-zero on any of these; a supervisor restarts it and
/// recovery brings it back to the committed frontier.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("worker configuration: job.kafka is missing")]
    NoKafka,
    #[error("scoring model {path}: {reason}")]
    Model { path: String, reason: String },
    #[error("job parameters: {0}")]
    Params(String),
    #[error(transparent)]
    Kafka(#[from] KafkaOpError),
    #[error(transparent)]
    Topics(#[from] TopicError),
    #[error(transparent)]
    Progress(#[from] ProgressLogError),
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    #[error(transparent)]
    Loop(#[from] LoopError),
    #[error(transparent)]
    Services(#[from] services::ServicesError),
    #[error("restoring from the checkpoint store: {0}")]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error("starting the checkpoint thread: {0}")]
    Thread(std::io::Error),
    #[error("the recovery thread of partition {0} panicked")]
    RecoveryPanicked(i32),
}

impl WorkerError {
    /// Bounded category for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Self::NoKafka | Self::Model { .. } | Self::Params(_) => "config",
            Self::Thread(_) => "resources",
            Self::Kafka(_) => "kafka",
            Self::Services(_) => "config",
            Self::Snapshot(_) => "checkpoint-store",
            Self::Topics(TopicError::Authentication { .. } | TopicError::Tls { .. }) => {
                "kafka-auth"
            }
            Self::Topics(_) => "topics",
            Self::Progress(_) | Self::Recovery(_) | Self::RecoveryPanicked(_) => "recovery",
            Self::Loop(_) => "transaction",
        }
    }
}

/// Loads the model named in the job (or the built-in `fraud-v1`).
pub fn load_model(job: &JobConfig) -> Result<ScoringModel, WorkerError> {
    let Some(path) = &job.model_path else {
        return Ok(ScoringModel::default_v1());
    };
    let text = std::fs::read_to_string(path).map_err(|e| WorkerError::Model {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    ScoringModel::from_yaml(&text).map_err(|e| WorkerError::Model {
        path: path.clone(),
        reason: e.to_string(),
    })
}

/// Event-time parameters from the job config.
pub fn job_params(job: &JobConfig) -> Result<JobParams, WorkerError> {
    let ms = |m: sluice_api::Millis| i64::try_from(m.as_millis()).unwrap_or(i64::MAX);
    let params = JobParams {
        out_of_orderness_ms: ms(job.watermark.out_of_orderness),
        allowed_lateness_ms: ms(job.watermark.allowed_lateness),
        state_ttl_ms: ms(job.state_ttl),
    };
    params
        .validate()
        .map_err(|e| WorkerError::Params(e.to_string()))?;
    Ok(params)
}

/// Runs the worker until `stop` is set (clean stop after a final commit) or an error.
pub fn run(cfg: &WorkerConfig, stop: Arc<AtomicBool>) -> Result<LoopStats, WorkerError> {
    let job = &cfg.job;
    let kafka = job.kafka.as_ref().ok_or(WorkerError::NoKafka)?;
    let model = load_model(job)?;
    let params = job_params(job)?;
    let (clients, startup_consumer) = KafkaSetup::connect(cfg, kafka)?;
    let admin: AdminClient<DefaultClientContext> = clients
        .cconf
        .create()
        .map_err(kerr("creating the admin client"))?;
    let services = Services::start(
        cfg,
        &model.version,
        clients.layout.input_partitions,
        clients.decisions_log(job),
    )?;
    services.runtime.block_on(ensure_progress_topic(
        &admin,
        &clients.progress,
        clients.layout.input_partitions,
    ))?;
    // Start-up clients are dropped once used: a client kept idle would not follow rotated SASL credentials,
    // and the broker's re-authentication would then fail its connections.
    drop(admin);

    fence_previous_assignment(kafka, job, &cfg.worker.fence_transactional_ids)?;
    let started = Instant::now();
    let producer = transactional_producer(
        kafka,
        job,
        &cfg.worker.identity,
        clients.credentials.as_deref(),
    )?;

    let resources = RocksResources::new(job.state.block_cache_mib, job.state.write_buffer_mib)
        .with_read_cache(job.state.read_cache_mib, cfg.worker.partitions.len());
    let mut tasks = recover_tasks(
        cfg,
        &clients,
        &startup_consumer,
        &services,
        &resources,
        params,
        &model,
    )?;
    drop(startup_consumer);
    tracing::info!(ms = started.elapsed().as_millis() as u64, partitions = ?cfg.worker.partitions, "recovery complete; processing");

    run_loop(cfg, &clients, &services, producer, &mut tasks, stop)
}

/// The Kafka side of start-up: the consumer config every client and reader is created from, the checked
/// layout and the progress topic's name.
struct KafkaSetup {
    cconf: ClientConfig,
    layout: TopicLayout,
    progress: String,
    /// The files the clients take credentials from, followed while the worker runs.
    credentials: Option<Arc<CredentialRotation>>,
}

impl KafkaSetup {
    /// Creates a consumer and checks the topics (inputs co-partitioned, outputs present); returns the setup
    /// and that consumer, which recovery reads the frontier with.
    fn connect(
        cfg: &WorkerConfig,
        kafka: &KafkaConfig,
    ) -> Result<(KafkaSetup, BaseConsumer), WorkerError> {
        let job = &cfg.job;
        let group = group_id(job);
        let cconf = consumer_config(kafka, &group);
        crate::kafka::tls_probe::probe_tls(&cconf, &job.topics.authorizations)?;
        let consumer: BaseConsumer = cconf.create().map_err(kerr("creating the consumer"))?;
        let layout = check_layout(&consumer, job, &cfg.worker.partitions)?;
        let progress = progress_topic(job);
        let credentials = cfg.credential_files().and_then(|(files, sasl)| {
            CredentialRotation::start(files, sasl)
                .inspect_err(
                    |e| tracing::warn!(error = %e, "rotated Kafka credentials will need a restart"),
                )
                .ok()
        });
        let setup = KafkaSetup {
            cconf,
            layout,
            progress,
            credentials,
        };
        Ok((setup, consumer))
    }

    /// The decisions topic, as the audit table reads it back.
    fn decisions_log(&self, job: &JobConfig) -> DecisionsLog {
        DecisionsLog {
            consumer_config: self.cconf.clone(),
            topic: job.topics.decisions.clone(),
            partitions: i32::try_from(self.layout.decisions).unwrap_or(i32::MAX),
            credentials: self.credentials.clone(),
        }
    }
}

/// Recovers every owned partition to the frontier (restoring from the checkpoint store when one is
/// configured) and returns their tasks.
fn recover_tasks(
    cfg: &WorkerConfig,
    clients: &KafkaSetup,
    consumer: &BaseConsumer,
    services: &Services,
    resources: &RocksResources,
    params: JobParams,
    model: &ScoringModel,
) -> Result<BTreeMap<i32, PartitionTask>, WorkerError> {
    let job = &cfg.job;
    let remote = remote_snapshots(cfg, services)?;
    let ctx = startup::RecoveryContext {
        consumer,
        consumer_config: &clients.cconf,
        topic_names: input_topics(&job.topics),
        progress_topic: &clients.progress,
        runtime: &services.runtime,
        remote: remote.as_ref().map(|(store, r)| (*store, r)),
        state_root: Path::new(&job.state.dir),
        resources,
        params,
        model,
        download_concurrency: usize::try_from(job.state.s3.max_concurrency).unwrap_or(8),
        lineage: cfg.worker.lineage.as_ref(),
    };
    startup::recover_all(&ctx, &cfg.worker.partitions)
}

/// Runs the transactional loop from the recovered tasks' offsets until it ends, then gives a pending control
/// API answer time to reach its caller. When the Kafka credentials rotate, the loop ends at a transaction
/// boundary and runs again with a new producer and new consumers created with them (see
/// `crate::kafka::credential_rotation`).
fn run_loop(
    cfg: &WorkerConfig,
    clients: &KafkaSetup,
    services: &Services,
    mut producer: ThreadedProducer<DefaultProducerContext>,
    tasks: &mut BTreeMap<i32, PartitionTask>,
    stop: Arc<AtomicBool>,
) -> Result<LoopStats, WorkerError> {
    let job = &cfg.job;
    let mut rotation = clients
        .credentials
        .as_ref()
        .map(CredentialRotation::follower);
    let mut inputs = open_inputs(cfg, &clients.cconf, tasks)?;
    services.start_lag_poller(
        &clients.cconf,
        input_topics(&job.topics).map(str::to_string),
        cfg.worker.partitions.clone(),
        clients
            .credentials
            .as_ref()
            .map(CredentialRotation::follower),
    );
    let mut accounting = Accounting::new(
        Arc::clone(&services.metrics),
        Arc::clone(&services.board),
        services.snapshots.as_ref().map(|s| Arc::clone(&s.shared)),
        Arc::clone(&services.highs),
    );
    accounting.publish(tasks, WorkerPhase::Running, Duration::from_secs(1));
    let mut snapshotter = Snapshotter::new(
        job,
        services.snapshots.clone(),
        Arc::clone(&services.metrics),
    )
    .map_err(WorkerError::Thread)?;
    let mut stats = LoopStats::default();
    loop {
        let mut lp = TxnLoop {
            job,
            layout: &clients.layout,
            inputs: &mut inputs,
            producer: &producer,
            tasks,
            progress_topic: &clients.progress,
            stop: Arc::clone(&stop),
            stats: &mut stats,
            board: &services.board,
            accounting: &mut accounting,
            snapshots: &mut snapshotter,
            threads: cfg.worker.processing_threads(),
            rotation: rotation.as_ref(),
        };
        let exit = lp.run()?;
        tracing::info!(?exit, "processing loop ended");
        let (LoopExit::CredentialsRotated, Some(rotation)) = (exit, rotation.as_mut()) else {
            break;
        };
        let mut cconf = clients.cconf.clone();
        rotation.configure(&mut cconf);
        inputs = open_inputs(cfg, &cconf, tasks)?;
        // No transaction is open: the new producer's init_transactions fences the old one, dropped first.
        drop(producer);
        let kafka = job.kafka.as_ref().ok_or(WorkerError::NoKafka)?;
        producer = transactional_producer(
            kafka,
            job,
            &cfg.worker.identity,
            clients.credentials.as_deref(),
        )?;
        tracing::info!("Kafka clients replaced after a credential rotation; processing continues");
    }
    // Let a pending control API answer (stop-with-savepoint) reach its caller before the process exits.
    std::thread::sleep(Duration::from_millis(300));
    Ok(stats)
}

/// The input consumers, each owned partition assigned at its task's next offsets.
fn open_inputs(
    cfg: &WorkerConfig,
    cconf: &ClientConfig,
    tasks: &BTreeMap<i32, PartitionTask>,
) -> Result<Inputs, WorkerError> {
    let names = input_topics(&cfg.job.topics);
    Ok(Inputs::open(
        cconf,
        names,
        &cfg.worker.partitions,
        |t, p| {
            tasks
                .get(&p)
                .map_or(0, |task| task.next_offsets()[usize::from(t.index())])
        },
    )?)
}

/// Fences the transactional ids of the previous layout whose partitions this worker now owns, so no
/// zombie of the old layout can commit after this worker's first transaction.
fn fence_previous_assignment(
    kafka: &KafkaConfig,
    job: &JobConfig,
    ids: &[String],
) -> Result<(), WorkerError> {
    for old in ids {
        let fencer: BaseProducer = producer_config(kafka, job, old)
            .create()
            .map_err(kerr("creating a fencing producer"))?;
        fencer
            .init_transactions(INIT_TIMEOUT)
            .map_err(kerr(format!("fencing transactional id {old}")))?;
        tracing::info!(transactional_id = %old, "fenced previous assignment");
    }
    Ok(())
}

/// The worker's transactional producer, initialised (which fences its own previous incarnation), with the
/// current Kafka credentials when they rotate.
fn transactional_producer(
    kafka: &KafkaConfig,
    job: &JobConfig,
    identity: &str,
    credentials: Option<&CredentialRotation>,
) -> Result<ThreadedProducer<DefaultProducerContext>, WorkerError> {
    let txn_id = transactional_id(job, identity);
    let mut config = producer_config(kafka, job, &txn_id);
    if let Some(credentials) = credentials {
        credentials.configure(&mut config);
    }
    let producer: ThreadedProducer<DefaultProducerContext> =
        config.create().map_err(kerr("creating the producer"))?;
    let started = Instant::now();
    producer
        .init_transactions(INIT_TIMEOUT)
        .map_err(kerr(format!("init_transactions for {txn_id}")))?;
    tracing::info!(transactional_id = %txn_id, ms = started.elapsed().as_millis() as u64, "transactions initialised");
    Ok(producer)
}

/// The snapshots in the checkpoint store to restore from (the explicit restore point, else the latest).
fn remote_snapshots<'s>(
    cfg: &WorkerConfig,
    services: &'s Services,
) -> Result<Option<(&'s ObjectStore, RemoteSnapshots)>, WorkerError> {
    let Some(store) = &services.store else {
        return Ok(None);
    };
    let snapshots = RemoteSnapshots::load(
        &services.runtime,
        store,
        &services.layout,
        cfg.worker.restore_from.as_deref(),
        cfg.worker.lineage.as_ref(),
    )?;
    Ok(Some((store, snapshots)))
}
