//! A transaction commit running on its own thread while processing goes on.
//!
//! Committing waits for the broker: librdkafka flushes the transaction's last records, the consumed offsets
//! join the transaction, and the coordinator writes the commit markers. After that the transaction's state
//! writes go to RocksDB. Measured on the 5M-authorization drain, the loop spent 20–45 % of its time
//! in this with every processing thread idle. Now the loop seals the transaction (`PartitionTask::seal`) and
//! hands it here; processing of the next transaction goes on meanwhile, its outputs held by the output
//! gate until the next transaction begins. There is never more than one commit in flight, and the next
//! transaction begins only after this one committed, so the transactions' order and contents are unchanged.

use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};

use super::task::{SealedEpoch, TaskError};
use crate::crash_points;
use crate::kafka::{KafkaOpError, kerr, txn_commit};

/// What the transaction carried besides its outputs.
pub struct CommitWork {
    /// Consumed offsets and the consumer group they belong to; `None` when nothing was consumed.
    pub offsets: Option<(TopicPartitionList, ConsumerGroupMetadata)>,
    /// Every partition's sealed share, whose state is written once the commit succeeded.
    pub epochs: Vec<SealedEpoch>,
}

/// Why a commit failed. The transaction's outcome is then uncertain: the worker exits and recovers.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Kafka(#[from] KafkaOpError),
    #[error(transparent)]
    State(#[from] TaskError),
}

/// A commit in flight.
pub struct CommitFlight<'s> {
    /// The thread returns how long the commit took (measured there: the loop may notice its end later).
    handle: ScopedJoinHandle<'s, Result<Duration, CommitError>>,
    consumed: bool,
}

/// A commit that finished successfully.
pub struct Landed {
    /// Whether the transaction consumed input (an empty one is not counted as a transaction).
    pub consumed: bool,
    /// From the start of the commit until its state was written.
    pub latency: Duration,
}

impl<'s> CommitFlight<'s> {
    /// Starts committing the open transaction on a thread of `scope`. Every output and progress record must
    /// have been sent already.
    pub fn launch<'e>(
        scope: &'s Scope<'s, 'e>,
        producer: &'s ThreadedProducer<DefaultProducerContext>,
        work: CommitWork,
        timeout: Duration,
    ) -> CommitFlight<'s> {
        let consumed = work.offsets.is_some();
        let started = Instant::now();
        let handle = scope.spawn(move || {
            commit(producer, work, timeout)?;
            Ok(started.elapsed())
        });
        CommitFlight { handle, consumed }
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the commit to end.
    pub fn land(self) -> Result<Landed, CommitError> {
        // A panic on the commit thread is a bug: take the worker down as it would have on the loop's thread.
        let latency = self
            .handle
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        Ok(Landed {
            consumed: self.consumed,
            latency,
        })
    }
}

fn commit(
    producer: &ThreadedProducer<DefaultProducerContext>,
    work: CommitWork,
    timeout: Duration,
) -> Result<(), CommitError> {
    if let Some((offsets, group)) = &work.offsets {
        producer
            .send_offsets_to_transaction(offsets, group, timeout)
            .map_err(kerr("adding consumed offsets to the transaction"))?;
        txn_commit::commit_transaction(producer, timeout)
            .map_err(kerr("committing the transaction"))?;
        crash_points::reach("after_commit_before_checkpoint");
    } else {
        // Nothing consumed: an empty transaction costs nothing to leave open, but commit it for a clean stop.
        txn_commit::commit_transaction(producer, timeout)
            .map_err(kerr("committing an empty transaction"))?;
    }
    for epoch in &work.epochs {
        epoch.write_state()?;
    }
    Ok(())
}
