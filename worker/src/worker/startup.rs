//! Start-up recovery of every owned partition, in parallel: each reads its frontier and progress log,
//! restores (locally or from the store) and replays to the frontier on its own thread. Partitions share
//! nothing but the clients, so recovery time is that of the slowest partition, not the sum — the recovery
//! time after a kill is dominated by per-partition Kafka round trips (progress log, replay readers).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sluice_core::model::ScoringModel;
use sluice_core::processor::JobParams;

use super::recovery::{RecoveryInput, recover_partition};
use super::remote_restore::{RemoteSnapshots, RestoreSource};
use super::task::PartitionTask;
use super::{INIT_TIMEOUT, WorkerError};
use crate::kafka::kerr;
use crate::kafka::progress_log;
use crate::state::RocksResources;
use sluice_store::ObjectStore;

/// Partitions recovered at the same time (each opens three replay readers).
const MAX_PARALLEL: usize = 8;

/// What every partition's recovery reads.
pub struct RecoveryContext<'a> {
    pub consumer: &'a BaseConsumer,
    pub consumer_config: &'a ClientConfig,
    pub topic_names: [&'a str; 3],
    pub progress_topic: &'a str,
    pub runtime: &'a tokio::runtime::Runtime,
    pub remote: Option<(&'a ObjectStore, &'a RemoteSnapshots)>,
    pub state_root: &'a Path,
    pub resources: &'a RocksResources,
    pub params: JobParams,
    pub model: &'a ScoringModel,
    pub download_concurrency: usize,
    /// The state lineage to continue.
    pub lineage: Option<&'a String>,
}

/// Recovers `partitions` (at most [`MAX_PARALLEL`] at a time) and returns their tasks, or the first error.
pub fn recover_all(
    ctx: &RecoveryContext<'_>,
    partitions: &[i32],
) -> Result<BTreeMap<i32, PartitionTask>, WorkerError> {
    let mut tasks = BTreeMap::new();
    for chunk in partitions.chunks(MAX_PARALLEL) {
        let results: Vec<Result<PartitionTask, WorkerError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|&p| (p, scope.spawn(move || recover_one(ctx, p))))
                .collect();
            handles
                .into_iter()
                .map(|(p, h)| h.join().unwrap_or(Err(WorkerError::RecoveryPanicked(p))))
                .collect()
        });
        for r in results {
            let task = r?;
            tasks.insert(task.partition(), task);
        }
    }
    Ok(tasks)
}

fn recover_one(ctx: &RecoveryContext<'_>, p: i32) -> Result<PartitionTask, WorkerError> {
    let started = Instant::now();
    let (mut frontier, earliest) = frontier_of(ctx.consumer, &ctx.topic_names, p)?;
    let records = progress_log::read_all(ctx.consumer_config, ctx.progress_topic, p, INIT_TIMEOUT)?;
    let mut source = RestoreSource::Local;
    if let Some((store, remote)) = ctx.remote {
        // A job with no committed history of this partition that is told to start from a savepoint
        // starts exactly at the savepoint's offsets (e.g. a new job forked from another's savepoint).
        if records.is_empty()
            && let Some(sp) = remote.savepoint_part(p)
            && !sp.input_offsets.iter().zip(&frontier).all(|(o, f)| o <= f)
        {
            tracing::info!(partition = p, offsets = ?sp.input_offsets, "no committed history: starting at the savepoint");
            frontier = sp.input_offsets;
        }
        source = remote.prepare(
            ctx.runtime,
            store,
            ctx.state_root,
            p,
            &frontier,
            ctx.download_concurrency,
        )?;
    }
    let (task, report) = recover_partition(RecoveryInput {
        resources: ctx.resources,
        state_root: ctx.state_root,
        partition: p,
        params: ctx.params,
        model: ctx.model.clone(),
        frontier,
        earliest,
        progress: records,
        topic_names: ctx.topic_names,
        consumer_config: ctx.consumer_config,
        lineage: ctx.lineage.cloned(),
        observe: None,
    })?;
    tracing::info!(
        partition = p,
        checkpoint = ?report.checkpoint_seq,
        source = ?source,
        replayed_records = report.replayed_records,
        replayed_txns = report.replayed_txns,
        frontier = ?frontier,
        ms = started.elapsed().as_millis() as u64,
        "partition recovered"
    );
    Ok(task)
}

/// Committed next-offsets (frontier) and earliest offsets of partition `p` of each source topic.
fn frontier_of(
    consumer: &BaseConsumer,
    names: &[&str; 3],
    p: i32,
) -> Result<([i64; 3], [i64; 3]), WorkerError> {
    let mut tpl = TopicPartitionList::new();
    for name in names {
        tpl.add_partition(name, p);
    }
    // A broker that just started may answer NotCoordinator / CoordinatorLoadInProgress for a while.
    let deadline = Instant::now() + INIT_TIMEOUT;
    let committed = loop {
        match consumer.committed_offsets(tpl.clone(), Duration::from_secs(10)) {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                tracing::warn!(error = %e, "reading committed offsets failed; retrying");
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => return Err(kerr("reading committed offsets")(e).into()),
        }
    };
    let mut frontier = [0i64; 3];
    let mut earliest = [0i64; 3];
    for (i, name) in names.iter().enumerate() {
        let (low, _high) = watermarks(consumer, name, p, deadline)?;
        earliest[i] = low;
        frontier[i] = match committed.find_partition(name, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => low,
        };
    }
    Ok((frontier, earliest))
}

/// Low and high watermarks of `name`/`p`. Right after a topic is created, or while a broker restarts, a
/// partition's leader may not be settled yet (NotLeaderForPartition, LeaderNotAvailable, the topic not yet
/// in the metadata): those answers are retried until the start-up `deadline`; any other error is final.
fn watermarks(
    consumer: &BaseConsumer,
    name: &str,
    p: i32,
    deadline: Instant,
) -> Result<(i64, i64), WorkerError> {
    loop {
        match consumer.fetch_watermarks(name, p, INIT_TIMEOUT) {
            Ok(w) => return Ok(w),
            Err(e) if leader_not_settled(&e) && Instant::now() < deadline => {
                tracing::warn!(topic = name, partition = p, error = %e, "reading watermarks failed; retrying");
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => return Err(kerr(format!("reading watermarks of {name}/{p}"))(e).into()),
        }
    }
}

/// Errors that say the partition's leadership is still settling, not that something is wrong.
fn leader_not_settled(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::UnknownTopicOrPartition
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_settling_leadership_is_retried() {
        for code in [
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::LeaderNotAvailable,
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ] {
            assert!(
                leader_not_settled(&KafkaError::MetadataFetch(code)),
                "{code:?}"
            );
        }
        for code in [
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::SaslAuthenticationFailed,
            RDKafkaErrorCode::InvalidPartitions,
        ] {
            assert!(
                !leader_not_settled(&KafkaError::MetadataFetch(code)),
                "{code:?}"
            );
        }
    }
}
