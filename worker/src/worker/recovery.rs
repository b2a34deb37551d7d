//! Recovery of one partition after any restart: restore the newest local checkpoint within the committed
//! frontier, then replay the recorded input from the checkpoint's offsets to the frontier with output
//! suppressed. Processing is a pure function of (state, input order), so the rebuilt state is exactly the
//! state the committed output was computed from.

use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use sluice_core::event::SourceTopic;
use sluice_core::model::ScoringModel;
use sluice_core::processor::{JobParams, Output};
use sluice_core::progress::{ProgressRecord, ReplayPlan};

use super::task::{PartitionTask, TaskError};
use crate::crash_points;
use crate::kafka::{KafkaOpError, kerr};
use crate::state::{LocalCheckpoints, RocksResources, StateError};

const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a partition could not be recovered. Each is fatal: continuing would risk wrong state.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Kafka(#[from] KafkaOpError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error("partition {partition}: {source}")]
    State {
        partition: i32,
        #[source]
        source: StateError,
    },
    #[error("partition {partition}: the progress log is inconsistent: {reason}")]
    Progress { partition: i32, reason: String },
    #[error(
        "partition {partition}: timed out reading {topic} at offset {offset} (or the next committed one) during replay"
    )]
    ReplayTimeout {
        partition: i32,
        topic: String,
        offset: i64,
    },
}

/// Called with each replayed record's topic, offset and outputs.
pub type ReplayObserver<'a> = dyn FnMut(SourceTopic, i64, &[Output]) + 'a;

/// Inputs of one partition's recovery.
pub struct RecoveryInput<'a> {
    pub resources: &'a RocksResources,
    pub state_root: &'a Path,
    pub partition: i32,
    pub params: JobParams,
    pub model: ScoringModel,
    /// Committed next-offsets per source topic (the frontier), resolved to concrete offsets.
    pub frontier: [i64; 3],
    /// Earliest available offsets per source topic (where a job with no history starts).
    pub earliest: [i64; 3],
    /// Every committed progress record of this partition, in log order.
    pub progress: Vec<ProgressRecord>,
    /// Source topic names, indexed like the offsets.
    pub topic_names: [&'a str; 3],
    /// A read_committed consumer config for replay reads.
    pub consumer_config: &'a ClientConfig,
    /// The state lineage to continue (see `sluice_api::worker_env::LINEAGE`).
    pub lineage: Option<String>,
    /// Sees every replayed record's outputs (which recovery itself discards): `sluice audit reproduce`.
    pub observe: Option<&'a mut ReplayObserver<'a>>,
}

/// What recovery did, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub partition: i32,
    pub checkpoint_seq: Option<u64>,
    pub replayed_records: u64,
    pub replayed_txns: usize,
}

/// Rebuilds the partition's state at the frontier and returns the task ready to process new input.
pub fn recover_partition(
    mut input: RecoveryInput<'_>,
) -> Result<(PartitionTask, RecoveryReport), RecoveryError> {
    let partition = input.partition;
    let state_err = |source| RecoveryError::State { partition, source };
    let checkpoints =
        LocalCheckpoints::new(input.state_root, partition).in_lineage(input.lineage.clone());
    let live = checkpoints.live();

    // The chosen checkpoint must lie on the committed chain: offsets within the frontier.
    let chosen = checkpoints
        .newest_within(&input.frontier)
        .map_err(state_err)?;
    let (start, start_seq) = match &chosen {
        Some(meta) => {
            checkpoints
                .restore_into(meta.seq, &live)
                .map_err(state_err)?;
            (meta.offsets, meta.txn_seq)
        }
        None => (start_without_checkpoint(&input, &live)?, 0),
    };

    let plan = replay_plan(partition, input.progress, start, start_seq, input.frontier)?;
    let last_seq = plan.records().last().map_or(start_seq, |r| r.txn_seq);

    let mut task = PartitionTask::open(
        input.resources,
        checkpoints,
        input.params,
        input.model,
        start,
        start_seq,
    )?;
    let mut readers = Readers::open(input.consumer_config, &input.topic_names, partition, &start)?;
    let replayed = replay(
        &mut task,
        &mut readers,
        &plan,
        partition,
        input.observe.as_deref_mut(),
    )?;
    if task.txn_seq() != last_seq {
        // The replay plan and the task disagree on where the committed frontier is: resuming would number
        // the next transaction wrongly, so stop here rather than commit on a guess.
        return Err(RecoveryError::Progress {
            partition,
            reason: format!(
                "replay ended at transaction {} but the progress log's last is {last_seq}",
                task.txn_seq()
            ),
        });
    }
    let report = RecoveryReport {
        partition,
        checkpoint_seq: chosen.map(|m| m.seq),
        replayed_records: replayed,
        replayed_txns: plan.records().len(),
    };
    // Resume exactly at the frontier (control records between the last replayed record and the frontier are
    // skipped by the consumer anyway).
    task.set_next_offsets(input.frontier)?;
    Ok((task, report))
}

/// Where the state starts when no local checkpoint fits: empty, at the first recorded transaction (or at the
/// earliest offsets when nothing was committed yet). Discards the live directory.
fn start_without_checkpoint(
    input: &RecoveryInput<'_>,
    live: &Path,
) -> Result<[i64; 3], RecoveryError> {
    let partition = input.partition;
    // Never reuse the live directory: it may hold state from an uncommitted transaction.
    if live.exists() {
        std::fs::remove_dir_all(live).map_err(|source| RecoveryError::State {
            partition,
            source: StateError::Io {
                path: live.to_path_buf(),
                source,
            },
        })?;
    }
    let start = input
        .progress
        .first()
        .map_or(input.earliest, |r| r.start_offsets);
    if input.progress.first().is_some_and(|r| r.txn_seq != 1) {
        return Err(RecoveryError::Progress {
            partition,
            reason: "no local checkpoint and the progress log no longer starts at the first transaction; \
                     restore from a savepoint or checkpoint that covers the retained history"
                .into(),
        });
    }
    Ok(start)
}

/// The recorded transactions after `start_seq`, checked to continue the state at `start` and to end at the
/// committed `frontier`.
fn replay_plan(
    partition: i32,
    progress: Vec<ProgressRecord>,
    start: [i64; 3],
    start_seq: u64,
    frontier: [i64; 3],
) -> Result<ReplayPlan, RecoveryError> {
    let progress_err = |reason: String| RecoveryError::Progress { partition, reason };
    let pending: Vec<ProgressRecord> = progress
        .into_iter()
        .filter(|r| r.txn_seq > start_seq)
        .collect();
    let plan = ReplayPlan::new(pending).map_err(|e| progress_err(e.to_string()))?;
    let plan_start = plan.start_offsets().unwrap_or(start);
    let plan_end = plan.end_offsets().unwrap_or(start);
    if plan_start != start {
        return Err(progress_err(format!(
            "the state starts at offsets {start:?} but the next recorded transaction starts at {plan_start:?}"
        )));
    }
    if plan_end != frontier {
        return Err(progress_err(format!(
            "recorded transactions end at {plan_end:?} but the committed offsets are {frontier:?}"
        )));
    }
    Ok(plan)
}

/// Processes the plan's records into `task` in their recorded order, each transaction followed by its
/// commit, discarding the outputs (`observe` sees them). Returns the number of records replayed.
fn replay(
    task: &mut PartitionTask,
    readers: &mut Readers,
    plan: &ReplayPlan,
    partition: i32,
    mut observe: Option<&mut ReplayObserver<'_>>,
) -> Result<u64, RecoveryError> {
    let mut discard = Vec::new();
    let mut replayed = 0u64;
    for rec in plan.records() {
        for &(topic, len) in &rec.runs {
            for _ in 0..len {
                let msg = readers.next(topic)?;
                let end = rec
                    .end_offsets
                    .get(usize::from(topic.index()))
                    .copied()
                    .unwrap_or(0);
                if msg.offset() >= end {
                    return Err(RecoveryError::Progress {
                        partition,
                        reason: format!(
                            "txn {} expects {} records below offset {end} of {}, found offset {}",
                            rec.txn_seq,
                            len,
                            topic.name(),
                            msg.offset()
                        ),
                    });
                }
                crash_points::reach("during_replay");
                task.process(topic, msg.offset(), msg.key(), msg.payload(), &mut discard)?;
                if let Some(observe) = observe.as_mut() {
                    observe(topic, msg.offset(), &discard);
                }
                discard.clear();
                replayed += 1;
            }
        }
        task.on_committed()?;
    }
    Ok(replayed)
}

/// One read_committed consumer per source topic, each positioned at the replay start.
struct Readers {
    /// Per topic: the consumer, the topic's name and the offset it reads from next (for errors).
    consumers: Vec<(BaseConsumer, String, i64)>,
    partition: i32,
}

impl Readers {
    fn open(
        config: &ClientConfig,
        names: &[&str; 3],
        partition: i32,
        start: &[i64; 3],
    ) -> Result<Readers, RecoveryError> {
        let mut consumers = Vec::new();
        for (name, offset) in names.iter().zip(start) {
            let c: BaseConsumer = config.create().map_err(kerr("creating a replay reader"))?;
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(name, partition, Offset::Offset(*offset))
                .map_err(kerr("building a replay assignment"))?;
            c.assign(&tpl)
                .map_err(kerr(format!("assigning {name}/{partition} for replay")))?;
            consumers.push((c, (*name).to_string(), *offset));
        }
        Ok(Readers {
            consumers,
            partition,
        })
    }

    fn next(&mut self, topic: SourceTopic) -> Result<OwnedMessage, RecoveryError> {
        let Some((consumer, name, position)) = self.consumers.get_mut(usize::from(topic.index()))
        else {
            return Err(RecoveryError::Progress {
                partition: self.partition,
                reason: format!("unknown topic index {}", topic.index()),
            });
        };
        let deadline = Instant::now() + READ_TIMEOUT;
        while Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    *position = m.offset() + 1;
                    return Ok(m.detach());
                }
                Some(Err(e)) => return Err(kerr(format!("replay read of {name}"))(e).into()),
                None => {}
            }
        }
        Err(RecoveryError::ReplayTimeout {
            partition: self.partition,
            topic: name.clone(),
            offset: *position,
        })
    }
}
