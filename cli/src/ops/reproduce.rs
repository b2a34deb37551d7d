//! `sluice audit reproduce --txn-id X`: recompute a decision from scratch and compare it, byte for byte, with
//! the audit table's row — the regulator's question "show me this score again".
//!
//! 1. The table row names the source partition and offset of the authorization.
//! 2. The newest retained snapshot (checkpoint or savepoint, any worker) of that partition whose offsets lie
//!    before the authorization is downloaded into a scratch state directory (none: empty state, if the
//!    progress log still starts at the first transaction).
//! 3. The partition's recorded input is replayed from there through the transaction holding the authorization —
//!    the worker's own recovery code, with outputs observed instead of discarded.
//! 4. The recomputed decision's bytes are compared with the row's; any difference is listed field by field.

use std::path::Path;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sluice_api::JobConfig;
use sluice_api::manifest::SnapshotManifest;
use sluice_audit::{AsOf, AuditTable};
use sluice_core::event::SourceTopic;
use sluice_core::model::ScoringModel;
use sluice_core::processor::{DecisionRecord, JobParams, Output};
use sluice_core::progress::ProgressRecord;

use super::OpsError;
use sluice_api::snapshot_layout::Layout;
use sluice_store::{ObjectStore, StoreError};
use sluice_worker::audit::config::table_config;
use sluice_worker::kafka::clients::{consumer_config, input_topics, progress_topic};
use sluice_worker::kafka::progress_log;
use sluice_worker::snapshot::restore::{
    all_savepoint_manifests, checkpoint_manifests, download_partition, newest_within,
};
use sluice_worker::state::{CheckpointMeta, LocalCheckpoints, RocksResources};
use sluice_worker::worker::recovery::{RecoveryInput, recover_partition};
use sluice_worker::worker::{job_params, load_model};

const TIMEOUT: Duration = Duration::from_secs(60);

fn failed(what: &str) -> impl Fn(String) -> OpsError + '_ {
    move |e| OpsError::Failed(format!("{what}: {e}"))
}

/// What a reproduction found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reproduction {
    /// The report for a person: where the authorization lies, what the replay started from, the verdict.
    pub report: String,
    /// Whether the recomputed decision is byte-identical to the audit table's row.
    pub identical: bool,
}

/// Recomputes the decision of `txn_id` and reports whether it is byte-identical to the audit table's row.
/// `scratch`: an empty directory for the restored state. Fails only when it cannot try.
pub fn reproduce(job: &JobConfig, txn_id: &str, scratch: &Path) -> Result<Reproduction, OpsError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| failed("starting the async runtime")(e.to_string()))?;
    let row = read_row(&rt, job, txn_id)?;
    let side = JobSide::of(job)?;
    let (at, progress) = locate(job, &side.consumer_config, &row)?;

    // The newest snapshot of the partition before that transaction.
    let snapshot = match &job.state.checkpoint_store {
        Some(uri) => rt.block_on(restore_before(
            uri,
            job,
            at.partition,
            &at.holding.start_offsets,
            scratch,
        ))?,
        None => None,
    };
    let recomputed = recompute(job, &side, &at, progress, &row, scratch)?;
    report(txn_id, &row, &at, snapshot, &side.model.version, recomputed)
}

/// The audit table's row of `txn_id`.
fn read_row(
    rt: &tokio::runtime::Runtime,
    job: &JobConfig,
    txn_id: &str,
) -> Result<DecisionRecord, OpsError> {
    let spec = job.audit.as_ref().ok_or_else(|| {
        OpsError::Failed("the job has no audit table (no `audit:` section)".into())
    })?;
    rt.block_on(async {
        let table = AuditTable::open(table_config(job, spec)).await?;
        table.find_txn(txn_id, AsOf::Current).await
    })
    .map_err(|e| failed("reading the audit table")(e.to_string()))?
    .ok_or_else(|| OpsError::Failed(format!("txn {txn_id} is not in the audit table")))
}

/// What the replay takes from the job config: its Kafka client settings, processing parameters and model.
struct JobSide {
    consumer_config: ClientConfig,
    params: JobParams,
    model: ScoringModel,
}

impl JobSide {
    fn of(job: &JobConfig) -> Result<JobSide, OpsError> {
        let kafka = job.kafka.as_ref().ok_or_else(|| {
            OpsError::Failed("the job has no kafka section (bootstrapServers)".into())
        })?;
        let consumer_config =
            consumer_config(kafka, &format!("{}.reproduce", job.transactional_id_prefix));
        let params = job_params(job).map_err(|e| failed("job parameters")(e.to_string()))?;
        let model = load_model(job).map_err(|e| failed("scoring model")(e.to_string()))?;
        Ok(JobSide {
            consumer_config,
            params,
            model,
        })
    }
}

/// Where the row's authorization lies in the recorded input.
struct Located {
    partition: i32,
    /// Its authorizations offset.
    offset: i64,
    /// The transaction that consumed it.
    holding: ProgressRecord,
}

/// The transaction that consumed the row's authorization, from the progress log, and the partition's progress
/// records up to and including it.
fn locate(
    job: &JobConfig,
    cconf: &ClientConfig,
    row: &DecisionRecord,
) -> Result<(Located, Vec<ProgressRecord>), OpsError> {
    let (p, offset) = (row.source_partition, row.source_offset);
    let records = progress_log::read_all(cconf, &progress_topic(job), p, TIMEOUT)
        .map_err(|e| failed("reading the progress log")(e.to_string()))?;
    let holding = records
        .iter()
        .find(|r| r.start_offsets[0] <= offset && offset < r.end_offsets[0])
        .ok_or_else(|| {
            OpsError::Failed(format!(
                "no retained progress record covers authorizations offset {offset} of partition {p}"
            ))
        })?
        .clone();
    let progress = records
        .into_iter()
        .filter(|r| r.txn_seq <= holding.txn_seq)
        .collect();
    let at = Located {
        partition: p,
        offset,
        holding,
    };
    Ok((at, progress))
}

/// Replays the partition in `scratch` (from the snapshot restored there, or empty) through the holding
/// transaction with the worker's recovery, and returns the decision it produced for the row's authorization.
fn recompute(
    job: &JobConfig,
    side: &JobSide,
    at: &Located,
    progress: Vec<ProgressRecord>,
    row: &DecisionRecord,
    scratch: &Path,
) -> Result<Option<DecisionRecord>, OpsError> {
    let names = input_topics(&job.topics);
    let earliest = earliest_offsets(&side.consumer_config, names, at.partition)?;
    let mut recomputed: Option<DecisionRecord> = None;
    let mut observe = |topic: SourceTopic, offset: i64, outs: &[Output]| {
        if topic == SourceTopic::Authorizations && offset == at.offset {
            recomputed = outs.iter().find_map(|o| match o {
                Output::Decision(d) if d.txn_id == row.txn_id => Some(d.clone()),
                _ => None,
            });
        }
    };
    let resources = RocksResources::new(64, 32);
    let replayed = recover_partition(RecoveryInput {
        resources: &resources,
        state_root: scratch,
        partition: at.partition,
        params: side.params,
        model: side.model.clone(),
        frontier: at.holding.end_offsets,
        earliest,
        progress,
        topic_names: names,
        consumer_config: &side.consumer_config,
        // The scratch directory holds the one snapshot installed below, in the default lineage.
        lineage: None,
        observe: Some(&mut observe),
    });
    drop(replayed.map_err(|e| failed("replaying the partition")(e.to_string()))?);
    Ok(recomputed)
}

/// The earliest offset still in each input topic's partition `p` (where a replay of an empty state starts).
fn earliest_offsets(cconf: &ClientConfig, names: [&str; 3], p: i32) -> Result<[i64; 3], OpsError> {
    let consumer: BaseConsumer = cconf
        .create()
        .map_err(|e| failed("creating a Kafka client")(e.to_string()))?;
    let mut earliest = [0i64; 3];
    for (slot, name) in earliest.iter_mut().zip(names) {
        *slot = consumer
            .fetch_watermarks(name, p, TIMEOUT)
            .map_err(|e| failed("reading watermarks")(e.to_string()))?
            .0;
    }
    Ok(earliest)
}

/// The report: where the authorization lies, the state the replay started from, and the verdict — byte-identical,
/// or DIFFERENT with the fields that differ.
fn report(
    txn_id: &str,
    row: &DecisionRecord,
    at: &Located,
    snapshot: Option<String>,
    model_version: &str,
    recomputed: Option<DecisionRecord>,
) -> Result<Reproduction, OpsError> {
    let from = snapshot.map_or_else(
        || "empty state (replayed from the first transaction)".to_string(),
        |id| format!("snapshot {id}"),
    );
    let mut out = format!(
        "txn {txn_id}: partition {}, authorizations offset {}, transaction {}\nrestored from {from}, replayed through the transaction\n",
        at.partition, at.offset, at.holding.txn_seq
    );
    if row.model_version != model_version {
        out.push_str(&format!(
            "note: the row was scored by model {}, this job's model is {model_version} (use the job config of that model version)\n",
            row.model_version
        ));
    }
    let Some(again) = recomputed else {
        out.push_str("DIFFERENT: the replay produced no decision for this txn (late or invalid on replay?)\n");
        return Ok(Reproduction {
            report: out,
            identical: false,
        });
    };
    let a = serde_json::to_vec(row).map_err(|e| failed("encoding")(e.to_string()))?;
    let b = serde_json::to_vec(&again).map_err(|e| failed("encoding")(e.to_string()))?;
    let identical = a == b;
    if identical {
        out.push_str(&format!(
            "byte-identical: {} bytes, decision {:?}, score {}\n",
            a.len(),
            again.decision,
            again.score
        ));
    } else {
        out.push_str("DIFFERENT:\n");
        out.push_str(&field_diff(row, &again));
    }
    Ok(Reproduction {
        report: out,
        identical,
    })
}

/// Downloads the newest snapshot of partition `p` whose offsets are all within `before` into `scratch`.
async fn restore_before(
    uri: &str,
    job: &JobConfig,
    p: i32,
    before: &[i64; 3],
    scratch: &Path,
) -> Result<Option<String>, OpsError> {
    let encryption = job.state.encryption.as_ref();
    let keyring = sluice_store::keys::job_keyring_from_env(encryption).map_err(StoreError::from)?;
    let store = ObjectStore::open(uri, &job.state.s3)
        .await?
        .with_keyring(keyring);
    let layout = Layout::new(&job.transactional_id_prefix);
    let mut manifests: Vec<SnapshotManifest> = checkpoint_manifests(&store, &layout)
        .await?
        .into_values()
        .collect();
    manifests.extend(all_savepoint_manifests(&store, &layout).await?);
    let Some((manifest, part)) = newest_within(&manifests, p, before) else {
        return Ok(None);
    };
    let local = LocalCheckpoints::new(scratch, p);
    let state =
        |e: sluice_worker::state::StateError| OpsError::Failed(format!("scratch state: {e}"));
    let db_dir = local.prepare(1).map_err(state)?;
    download_partition(&store, part, &db_dir, 8).await?;
    local
        .finish(&CheckpointMeta {
            partition: p,
            seq: 1,
            offsets: part.input_offsets,
            txn_seq: part.txn_seq,
            lineage: None,
        })
        .map_err(state)?;
    Ok(Some(manifest.id.clone()))
}

/// The top-level fields (and features) whose JSON differs.
fn field_diff(a: &DecisionRecord, b: &DecisionRecord) -> String {
    let (Ok(serde_json::Value::Object(x)), Ok(serde_json::Value::Object(y))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return "  (not comparable)\n".into();
    };
    let mut out = String::new();
    for (k, v) in &x {
        let w = y.get(k).unwrap_or(&serde_json::Value::Null);
        if v != w {
            out.push_str(&format!("  {k}: table {v} | recomputed {w}\n"));
        }
    }
    out
}
