//! The transactional processing loop: consume from every owned partition, process, produce outputs, and every
//! `commitInterval` (or `commitMaxRecords`) commit one Kafka transaction holding the outputs, one progress
//! record per partition that consumed input, and the consumed offsets. The transaction is the commit point:
//! read_committed consumers see decisions as soon as it commits, independent of state checkpoints.
//!
//! When a transaction is due and how long a poll may block: `txn_pacing.rs`; control commands, run at a
//! transaction boundary: `commands.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, Scope};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use sluice_api::JobConfig;
use sluice_core::event::SourceTopic;

use sluice_api::control::WorkerPhase;

use super::accounting::Accounting;
use super::commit_flight::{CommitError, CommitFlight, CommitWork};
use super::inbox::Inbox;
use super::inputs::Inputs;
use super::output_gate::OutputGate;
use super::output_route::{EncodedOutput, OutputRoute};
use super::round::{self, RoundError, RoundOutput};
use super::snapshots::{SnapshotFailure, Snapshotter};
use super::task::{PartitionTask, TaskError};
use super::txn_pacing::{POLL_BATCH, TxnPacing};
use crate::control::StatusBoard;
use crate::crash_points;
use crate::kafka::clients::input_topic;
use crate::kafka::credential_rotation::RotationFollower;
use crate::kafka::progress_log::progress_key;
use crate::kafka::topics::TopicLayout;
use crate::kafka::{KafkaOpError, kerr, send_with_backpressure};

const TXN_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the loop stopped abnormally. After any of these the open transaction is uncertain: the worker exits
/// and recovers from the committed frontier on restart (never continues after an uncertain commit).
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error(transparent)]
    Kafka(#[from] KafkaOpError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(transparent)]
    Round(#[from] RoundError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error(
        "the consumer has no group metadata (is group.id set?); offsets cannot join the transaction"
    )]
    NoGroupMetadata,
    #[error("received a record for {topic}/{partition}, which this worker does not own")]
    Unowned { topic: String, partition: i32 },
    #[error(transparent)]
    Checkpoints(#[from] SnapshotFailure),
}

/// Everything the loop works with.
pub struct TxnLoop<'a> {
    pub job: &'a JobConfig,
    pub layout: &'a TopicLayout,
    pub inputs: &'a mut Inputs,
    pub producer: &'a ThreadedProducer<DefaultProducerContext>,
    pub tasks: &'a mut BTreeMap<i32, PartitionTask>,
    pub progress_topic: &'a str,
    pub stop: Arc<AtomicBool>,
    pub stats: &'a mut LoopStats,
    pub board: &'a StatusBoard,
    pub accounting: &'a mut Accounting,
    pub snapshots: &'a mut Snapshotter,
    /// Threads a processing round may use (see `round.rs`).
    pub threads: usize,
    /// Says when the Kafka credential files changed: the producer and the input consumers must be replaced.
    pub rotation: Option<&'a RotationFollower>,
}

/// How the loop ended without error.
#[derive(Debug)]
pub enum LoopExit {
    /// SIGTERM/SIGINT or a stop request: final commit done.
    Stopped,
    /// The Kafka credential files (SASL or TLS) changed; the last transaction is committed and none is open.
    CredentialsRotated,
}

/// Counters the loop keeps (exported as metrics by the caller).
#[derive(Debug, Default, Clone)]
pub struct LoopStats {
    pub records_in: u64,
    pub records_out: u64,
    pub transactions: u64,
    pub checkpoints: u64,
    pub last_commit_latency: Duration,
}

/// How long a task waits for a topic partition that is known to have more data (not at end-of-log) before
/// processing the others anyway. Kafka Streams' rule: never run ahead of a partition that still has data, since
/// its next record may be earlier in event time; the bound only guards against a stuck fetch.
pub(super) const MAX_TASK_IDLE: Duration = Duration::from_secs(30);
/// Per task and topic, stop reading a topic once this many of its records wait in the inbox.
const MAX_QUEUED_PER_TOPIC: usize = 50_000;

impl<'a> TxnLoop<'a> {
    /// Runs until the stop flag is set (then commits what is open and returns) or an error occurs.
    pub fn run(&mut self) -> Result<LoopExit, LoopError> {
        thread::scope(|scope| self.run_in(scope))
    }

    /// The loop; commits run on threads of `scope` (see `commit_flight.rs`).
    fn run_in<'s>(&mut self, scope: &'s Scope<'s, '_>) -> Result<LoopExit, LoopError>
    where
        'a: 's,
    {
        let mut inboxes: BTreeMap<i32, Inbox> =
            self.tasks.keys().map(|p| (*p, Inbox::default())).collect();
        self.producer
            .begin_transaction()
            .map_err(kerr("beginning a transaction"))?;
        let mut pacing = TxnPacing::new(self.job);
        let mut gate: OutputGate<EncodedOutput> = OutputGate::default();
        let mut flight: Option<CommitFlight<'s>> = None;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                self.land(&mut flight, &mut gate)?;
                self.commit_now(scope, &mut gate)?;
                self.accounting
                    .publish(self.tasks, WorkerPhase::Stopped, Duration::from_secs(1));
                return Ok(LoopExit::Stopped);
            }
            if self.rotation.is_some_and(RotationFollower::pending) {
                // New credentials need new connections: end at a transaction boundary, so the caller can
                // replace the clients and run the loop again from the tasks' positions.
                self.land(&mut flight, &mut gate)?;
                self.commit_now(scope, &mut gate)?;
                return Ok(LoopExit::CredentialsRotated);
            }
            self.snapshots.check_health()?;
            self.accounting
                .maybe_publish(self.tasks, WorkerPhase::Running);
            if let Some(cmd) = self.board.next_command() {
                // Commands run at a transaction boundary: commit what is open first.
                self.land(&mut flight, &mut gate)?;
                self.commit_now(scope, &mut gate)?;
                pacing.reset();
                if let Some(exit) = self.handle(cmd)? {
                    return Ok(exit);
                }
                self.producer
                    .begin_transaction()
                    .map_err(kerr("beginning a transaction"))?;
                // As after every commit: the gate opens after the registration delay. Left shut, it would
                // hold the whole next transaction's outputs until that transaction's commit.
                gate.close();
            }
            if flight.as_ref().is_some_and(CommitFlight::is_finished) {
                self.land(&mut flight, &mut gate)?;
            }
            let wait = pacing.poll_wait(buffered(&inboxes));
            let wait = gate.wait_bound().map_or(wait, |w| wait.min(w));
            if gate.is_open() {
                self.release(&mut gate)?;
            }
            let fetched = self.fetch(&mut inboxes, wait)?;
            self.process(&mut inboxes, &mut pacing, &mut gate)?;
            let commit_due = pacing.is_due(fetched);
            // An idle job still snapshots on schedule (savepoint requests must not wait for traffic).
            let idle_boundary =
                pacing.is_empty() && flight.is_none() && self.snapshots.wants_boundary();
            if commit_due || idle_boundary {
                // One commit at a time: the next transaction can only begin once the previous one committed.
                self.land(&mut flight, &mut gate)?;
                flight = Some(self.launch(scope, &mut gate)?);
                pacing.reset();
            }
        }
    }

    /// Moves what the consumers have buffered locally into the inboxes, blocking up to `wait` when nothing
    /// is there, and returns how many records the poll moved.
    fn fetch(
        &mut self,
        inboxes: &mut BTreeMap<i32, Inbox>,
        wait: Duration,
    ) -> Result<usize, LoopError> {
        // Bound memory: a topic whose queue is already long for some task is not read further for now.
        let full = SourceTopic::ALL.map(|t| {
            inboxes
                .values()
                .any(|i| i.queue_len(t) >= MAX_QUEUED_PER_TOPIC)
        });
        let mut unowned = None;
        let skip = |t: SourceTopic| full.get(usize::from(t.index())).copied().unwrap_or(false);
        let poll_started = Instant::now();
        let fetched = self.inputs.poll_into(wait, POLL_BATCH, skip, |msg| {
            let partition = msg.record.partition;
            match inboxes.get_mut(&partition) {
                Some(inbox) => inbox.push(msg),
                None => unowned = Some((msg.record.topic, partition)),
            }
        })?;
        if !wait.is_zero() {
            self.accounting.add_idle(poll_started.elapsed());
        }
        if let Some((topic, partition)) = unowned {
            return Err(LoopError::Unowned {
                topic: input_topic(&self.job.topics, topic).to_string(),
                partition,
            });
        }
        Ok(fetched)
    }

    /// When records wait and the transaction has room, runs one processing round over every task and sends
    /// its outputs.
    fn process(
        &mut self,
        inboxes: &mut BTreeMap<i32, Inbox>,
        pacing: &mut TxnPacing,
        gate: &mut OutputGate<EncodedOutput>,
    ) -> Result<(), LoopError> {
        let buffered = buffered(inboxes);
        if buffered == 0 {
            return Ok(());
        }
        let Some(room) = pacing.room() else {
            return Ok(());
        };
        pacing.before_round();
        let lanes = round::lanes(self.tasks, inboxes, self.inputs, room);
        for group in round::run(lanes, self.threads, buffered)? {
            pacing.add(self.deliver_round(group, gate)?);
        }
        Ok(())
    }

    /// Starts committing the open transaction: sends its held outputs and progress records, seals every task,
    /// and hands the rest to a commit thread. The gate holds outputs until [`Self::land`] begins the next one.
    fn launch<'s>(
        &mut self,
        scope: &'s Scope<'s, '_>,
        gate: &mut OutputGate<EncodedOutput>,
    ) -> Result<CommitFlight<'s>, LoopError>
    where
        'a: 's,
    {
        self.release(gate)?;
        let mut offsets = TopicPartitionList::new();
        let mut epochs = Vec::with_capacity(self.tasks.len());
        let mut consumed = false;
        for task in self.tasks.values_mut() {
            let epoch = task.seal();
            if let Some(progress) = &epoch.progress {
                consumed = true;
                let bytes = progress.encode();
                let key = progress_key(epoch.partition);
                let record = BaseRecord::<[u8], [u8]>::to(self.progress_topic)
                    .partition(epoch.partition)
                    .key(&key)
                    .payload(&bytes);
                send_with_backpressure(self.producer, record)
                    .map_err(kerr("producing a progress record"))?;
            }
            for (t, off) in SourceTopic::ALL.into_iter().zip(epoch.offsets) {
                offsets
                    .add_partition_offset(
                        input_topic(&self.job.topics, t),
                        epoch.partition,
                        Offset::Offset(off),
                    )
                    .map_err(kerr("building the offsets to commit"))?;
            }
            epochs.push(epoch);
        }
        let offsets = if consumed {
            crash_points::reach("after_produce_before_commit");
            let group = self
                .inputs
                .group_metadata()
                .ok_or(LoopError::NoGroupMetadata)?;
            Some((offsets, group))
        } else {
            None
        };
        gate.shut();
        let work = CommitWork { offsets, epochs };
        Ok(CommitFlight::launch(
            scope,
            self.producer,
            work,
            TXN_TIMEOUT,
        ))
    }

    /// Waits for the commit in flight, if any, then begins the next transaction: snapshots first when due
    /// (the state in RocksDB is exactly the committed transaction's), then the gate's registration delay.
    fn land(
        &mut self,
        flight: &mut Option<CommitFlight<'_>>,
        gate: &mut OutputGate<EncodedOutput>,
    ) -> Result<(), LoopError> {
        let Some(f) = flight.take() else {
            return Ok(());
        };
        self.settle(f)?;
        self.snapshots.after_commit(self.tasks)?;
        self.producer
            .begin_transaction()
            .map_err(kerr("beginning a transaction"))?;
        gate.close();
        Ok(())
    }

    /// Waits for a commit and marks its transaction committed in every task. No transaction is open after.
    fn settle(&mut self, flight: CommitFlight<'_>) -> Result<(), LoopError> {
        let landed = flight.land()?;
        for task in self.tasks.values_mut() {
            task.committed();
        }
        if landed.consumed {
            self.stats.transactions += 1;
            self.stats.last_commit_latency = landed.latency;
            self.accounting.committed(landed.latency);
        }
        Ok(())
    }

    /// Commits the open transaction and waits for it (a stop or a control command); no transaction is open
    /// after.
    fn commit_now<'s>(
        &mut self,
        scope: &'s Scope<'s, '_>,
        gate: &mut OutputGate<EncodedOutput>,
    ) -> Result<(), LoopError>
    where
        'a: 's,
    {
        let flight = self.launch(scope, gate)?;
        self.settle(flight)
    }

    /// Where outputs go; borrows the job, not the loop.
    fn route(&self) -> OutputRoute<'a> {
        OutputRoute {
            producer: self.producer,
            topics: &self.job.topics,
            layout: self.layout,
        }
    }

    /// Sends the outputs the gate holds, in order, before anything else of the transaction.
    fn release(&mut self, gate: &mut OutputGate<EncodedOutput>) -> Result<(), LoopError> {
        let route = self.route();
        gate.release(|out| route.send(out))?;
        Ok(())
    }

    /// Accounts for one round's records and sends their outputs: record by record, each record's outputs
    /// through the gate, held ones first once it opens. Returns the number of records.
    fn deliver_round(
        &mut self,
        group: RoundOutput,
        gate: &mut OutputGate<EncodedOutput>,
    ) -> Result<u64, LoopError> {
        let records = u64::try_from(group.records.len()).unwrap_or(u64::MAX);
        let mut outputs = group.outputs.into_iter();
        for rec in group.records {
            self.stats.records_in += 1;
            self.accounting
                .record_in(rec.topic, rec.partition, rec.timestamp);
            crash_points::reach("before_produce");
            let open = gate.is_open();
            if open {
                self.release(gate)?;
            }
            let route = self.route();
            for out in outputs.by_ref().take(rec.outputs) {
                self.accounting.record_out(out.kind);
                self.stats.records_out += 1;
                if open {
                    route.send(&out)?;
                } else {
                    gate.hold(out);
                }
            }
        }
        Ok(records)
    }
}

/// Records waiting in the inboxes.
fn buffered(inboxes: &BTreeMap<i32, Inbox>) -> usize {
    inboxes.values().map(Inbox::len).sum()
}
