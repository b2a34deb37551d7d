//! One processing round: every task takes records from its inbox (up to a quota) and turns them into encoded
//! outputs. Under a backlog the tasks run on parallel threads. Each task owns its partition's inbox, RocksDB
//! and processor and shares nothing with the others, so this is Kafka Streams' stream threads without any
//! locking.
//!
//! Determinism is unaffected: each task still processes its own records one by one in the inbox's order, and
//! that order is what the progress log records. Only the interleaving of different partitions' outputs in the
//! output topics changes, and that was never fixed.
//!
//! The loop sends the outputs afterwards, in task order and record by record, so the output gate and the
//! crash points see the same sequence as before. (Sending from the processing threads directly was measured
//! and rejected: with two threads calling into the one librdkafka producer, the 5M-authorization drain fell
//! from 102k to 82k records/s and its CPU per record rose by a fifth.)

use std::collections::BTreeMap;
use std::thread;

use sluice_core::event::SourceTopic;
use sluice_core::processor::Output;

use super::inbox::{Inbox, TopicState};
use super::inputs::{Consumed, Inputs};
use super::output_route::EncodedOutput;
use super::task::{PartitionTask, TaskError};

/// Below this many buffered records a round runs on the loop's thread: handing work to another thread costs
/// more than it saves, and at a steady low rate the latency matters more than the throughput.
const PARALLEL_MIN_RECORDS: usize = 512;

/// One processed input record; its outputs follow the previous record's in [`RoundOutput::outputs`].
pub struct Processed {
    pub partition: i32,
    pub topic: SourceTopic,
    pub timestamp: Option<i64>,
    pub outputs: usize,
}

/// What a group of tasks produced in one round, in processing order per task.
#[derive(Default)]
pub struct RoundOutput {
    pub records: Vec<Processed>,
    pub outputs: Vec<EncodedOutput>,
}

/// Why a round failed; the open transaction is then uncertain.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error("encoding an output record: {0}")]
    Encode(#[from] serde_json::Error),
}

/// One task's share of a round.
pub struct Lane<'a> {
    pub partition: i32,
    pub task: &'a mut PartitionTask,
    pub inbox: &'a mut Inbox,
    /// What is known about each source topic of this partition (indexed by `SourceTopic::index`).
    pub topic_states: [TopicState; 3],
    /// At most this many records this round (the transaction's remaining `commitMaxRecords`).
    pub quota: u64,
}

/// Splits `budget` records over `n` lanes as evenly as possible, the first lanes taking the remainder.
pub fn quotas(budget: u64, n: usize) -> impl Iterator<Item = u64> {
    let n64 = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
    let (base, extra) = (budget / n64, budget % n64);
    (0..n64).map(move |i| base + u64::from(i < extra))
}

/// One lane per task for a round, each with its share of the `room` records the transaction has left.
pub(super) fn lanes<'t>(
    tasks: &'t mut BTreeMap<i32, PartitionTask>,
    inboxes: &'t mut BTreeMap<i32, Inbox>,
    inputs: &Inputs,
    room: u64,
) -> Vec<Lane<'t>> {
    let n = inboxes.len();
    tasks
        .iter_mut()
        .zip(inboxes.iter_mut())
        .zip(quotas(room, n))
        .map(|(((&partition, task), (_, inbox)), quota)| Lane {
            partition,
            task,
            inbox,
            topic_states: SourceTopic::ALL.map(|t| inputs.state(t, partition)),
            quota,
        })
        .collect()
}

/// Runs the lanes, on up to `threads` threads when `buffered` is large enough, and returns their outputs
/// in lane order (grouped by thread).
pub fn run(
    lanes: Vec<Lane<'_>>,
    threads: usize,
    buffered: usize,
) -> Result<Vec<RoundOutput>, RoundError> {
    let groups = threads.clamp(1, lanes.len().max(1));
    if groups == 1 || buffered < PARALLEL_MIN_RECORDS {
        return Ok(vec![run_group(lanes)?]);
    }
    on_threads(lanes, groups, run_group).into_iter().collect()
}

/// Runs `work` on `items` split round-robin into `groups` groups, one thread per group (the calling thread
/// takes the first group). Results come back in group order.
fn on_threads<T: Send, R: Send>(
    items: Vec<T>,
    groups: usize,
    work: impl Fn(Vec<T>) -> R + Sync,
) -> Vec<R> {
    let mut grouped: Vec<Vec<T>> = (0..groups.max(1)).map(|_| Vec::new()).collect();
    let n = grouped.len();
    for (i, item) in items.into_iter().enumerate() {
        if let Some(g) = grouped.get_mut(i % n) {
            g.push(item);
        }
    }
    let mut grouped = grouped.into_iter();
    let own = grouped.next().unwrap_or_default();
    let work = &work;
    thread::scope(|s| {
        let handles: Vec<_> = grouped.map(|g| s.spawn(move || work(g))).collect();
        let mut results = vec![work(own)];
        for h in handles {
            // A panic in processing is a bug, not bad input: let it take the worker down as it would have
            // on the loop's own thread.
            results.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        results
    })
}

fn run_group(lanes: Vec<Lane<'_>>) -> Result<RoundOutput, RoundError> {
    let mut out = RoundOutput::default();
    for lane in lanes {
        run_lane(lane, &mut out)?;
    }
    Ok(out)
}

/// Processes up to the lane's quota of records, in the order its inbox releases them.
fn run_lane(lane: Lane<'_>, out: &mut RoundOutput) -> Result<(), RoundError> {
    let Lane {
        partition,
        task,
        inbox,
        topic_states,
        quota,
    } = lane;
    let state = |t: SourceTopic| {
        topic_states
            .get(usize::from(t.index()))
            .copied()
            .unwrap_or(TopicState::Unknown)
    };
    let mut scratch: Vec<Output> = Vec::with_capacity(2);
    for _ in 0..quota {
        let Some(Consumed {
            record: rec,
            timestamp_ms,
        }) = inbox.pop_next(state, super::txn_loop::MAX_TASK_IDLE)
        else {
            break;
        };
        task.process(
            rec.topic,
            rec.offset,
            rec.key.as_deref(),
            rec.value.as_deref(),
            &mut scratch,
        )?;
        let n = scratch.len();
        for o in scratch.drain(..) {
            out.outputs
                .push(EncodedOutput::new(&o, partition, timestamp_ms)?);
        }
        out.records.push(Processed {
            partition,
            topic: rec.topic,
            timestamp: timestamp_ms,
            outputs: n,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sluice_core::model::ScoringModel;

    use crate::state::LocalCheckpoints;
    use sluice_core::processor::{JobParams, OwnedInputRecord};

    use super::*;
    use crate::state::RocksResources;
    use crate::worker::task::SealedEpoch;
    use sluice_generator::{Generator, GeneratorConfig};

    #[test]
    fn quotas_split_the_budget_exactly() {
        assert_eq!(quotas(10, 4).collect::<Vec<_>>(), vec![3, 3, 2, 2]);
        assert_eq!(quotas(2, 4).collect::<Vec<_>>(), vec![1, 1, 0, 0]);
        assert_eq!(quotas(0, 3).collect::<Vec<_>>(), vec![0, 0, 0]);
        assert_eq!(quotas(7, 1).collect::<Vec<_>>(), vec![7]);
    }

    /// Every output value per source partition, in order, after running the generated stream through
    /// rounds of `budget` records on `threads` threads.
    fn outputs_per_partition(
        threads: usize,
        budget: u64,
        read_cache_mib: u32,
    ) -> BTreeMap<i32, Vec<Vec<u8>>> {
        let tmp = tempfile::tempdir().unwrap();
        let resources = RocksResources::new(8, 8).with_read_cache(read_cache_mib, 4);
        let mut tasks: BTreeMap<i32, PartitionTask> = (0..4)
            .map(|p| {
                let task = PartitionTask::open(
                    &resources,
                    LocalCheckpoints::new(tmp.path(), p),
                    JobParams::default(),
                    ScoringModel::default_v1(),
                    [0; 3],
                    0,
                )
                .unwrap();
                (p, task)
            })
            .collect();
        let mut inboxes: BTreeMap<i32, Inbox> = (0..4).map(|p| (p, Inbox::default())).collect();
        let mut next_offset: BTreeMap<(u8, i32), i64> = BTreeMap::new();
        let generated = Generator::new(GeneratorConfig {
            cards: 300,
            authorizations: 4_000,
            ..GeneratorConfig::default()
        });
        for r in generated {
            let offset = next_offset
                .entry((r.topic.index(), r.partition))
                .or_default();
            inboxes.get_mut(&r.partition).unwrap().push(Consumed {
                record: OwnedInputRecord {
                    topic: r.topic,
                    partition: r.partition,
                    offset: *offset,
                    key: Some(r.key),
                    value: Some(r.value),
                },
                timestamp_ms: None,
            });
            *offset += 1;
        }
        let mut out: BTreeMap<i32, Vec<Vec<u8>>> = BTreeMap::new();
        let mut in_flight: Option<Vec<SealedEpoch>> = None;
        loop {
            let buffered: usize = inboxes.values().map(Inbox::len).sum();
            if buffered == 0 {
                break;
            }
            let lanes = tasks
                .iter_mut()
                .zip(inboxes.iter_mut())
                .zip(quotas(budget, 4))
                .map(|(((&partition, task), (_, inbox)), quota)| Lane {
                    partition,
                    task,
                    inbox,
                    topic_states: [TopicState::CaughtUp; 3],
                    quota,
                })
                .collect();
            for group in run(lanes, threads, buffered).unwrap() {
                let total: usize = group.records.iter().map(|r| r.outputs).sum();
                assert_eq!(total, group.outputs.len());
                for o in group.outputs {
                    out.entry(o.source_partition).or_default().push(o.value);
                }
            }
            // As the loop does: the previous transaction's state lands while this one is processed (reads
            // go through the sealed layer), then this one is sealed for its commit.
            if let Some(epochs) = in_flight.take() {
                land(&mut tasks, epochs);
            }
            in_flight = Some(tasks.values_mut().map(PartitionTask::seal).collect());
        }
        if let Some(epochs) = in_flight.take() {
            land(&mut tasks, epochs);
        }
        out
    }

    fn land(tasks: &mut BTreeMap<i32, PartitionTask>, epochs: Vec<SealedEpoch>) {
        for e in &epochs {
            e.write_state().unwrap();
        }
        tasks.values_mut().for_each(PartitionTask::committed);
    }

    #[test]
    fn outputs_do_not_depend_on_the_thread_count() {
        // Rounds of 2,000 records start with more than PARALLEL_MIN_RECORDS buffered, so they run in parallel.
        let one = outputs_per_partition(1, 2_000, 0);
        let two = outputs_per_partition(2, 2_000, 0);
        let small_rounds = outputs_per_partition(2, 100, 0);
        // A read cache of 1 MiB over 4 partitions (128 KiB per generation) rotates during the run.
        let cached = outputs_per_partition(2, 100, 1);
        assert_eq!(one.len(), 4, "every partition produced output");
        assert!(one.values().all(|v| v.len() > 500));
        assert_eq!(one, two);
        assert_eq!(one, small_rounds);
        assert_eq!(one, cached);
    }
}
