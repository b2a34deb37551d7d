//! A task: one input partition with its own RocksDB state, processor and interleaving recorder.
//! Rescaling moves whole tasks between workers, never individual keys.

use sluice_core::event::SourceTopic;
use sluice_core::model::ScoringModel;
use sluice_core::processor::{InputRecord, JobParams, Output, PartitionProcessor, ProcessError};
use sluice_core::progress::{InterleavingRecorder, ProgressRecord};

use sluice_core::processor::PartitionMeta;

use crate::state::{
    BlockCacheUsage, Captured, CheckpointMeta, DbHandle, LocalCheckpoints, PartitionDb,
    PartitionMemory, RocksResources, SealedBatch, StateError, StatePosition,
};

/// Why a task failed. Any of these leaves the open transaction uncertain: abort and recover.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("partition {partition}: {source}")]
    State {
        partition: i32,
        #[source]
        source: StateError,
    },
    #[error("partition {partition}: processing failed: {source}")]
    Process {
        partition: i32,
        #[source]
        source: ProcessError<StateError>,
    },
}

/// One partition's processing state.
pub struct PartitionTask {
    partition: i32,
    db: PartitionDb,
    processor: PartitionProcessor,
    recorder: InterleavingRecorder,
    checkpoints: LocalCheckpoints,
    /// Next offset to read per source topic.
    next: [i64; 3],
    /// Offsets at the start of the open transaction.
    txn_start: [i64; 3],
    /// Offsets at the end of the last committed transaction.
    committed: [i64; 3],
    /// Sequence number of the last committed transaction that carried input of this partition.
    txn_seq: u64,
    /// The transaction being committed: its end offsets and its sequence number.
    sealed: Option<([i64; 3], u64)>,
}

/// One partition's share of a transaction whose commit has started (see [`PartitionTask::seal`]).
pub struct SealedEpoch {
    pub partition: i32,
    /// The progress record to send in the transaction, when the partition consumed input in it.
    pub progress: Option<ProgressRecord>,
    /// The next offsets to commit with the transaction.
    pub offsets: [i64; 3],
    /// Its state writes, for RocksDB once it committed; `None` when there are none.
    state: Option<SealedBatch>,
}

impl SealedEpoch {
    /// Writes the epoch's state to RocksDB, from any thread. Call only after the transaction committed.
    pub fn write_state(&self) -> Result<(), TaskError> {
        match &self.state {
            Some(batch) => batch.write().map_err(|source| TaskError::State {
                partition: self.partition,
                source,
            }),
            None => Ok(()),
        }
    }
}

impl PartitionTask {
    /// Opens the partition's live DB (the caller has restored a checkpoint into it, or wiped it) and loads
    /// the processor's metadata; checkpoints go to `checkpoints`. `next` is where input resumes; `txn_seq`
    /// the last committed link.
    pub fn open(
        resources: &RocksResources,
        checkpoints: LocalCheckpoints,
        params: JobParams,
        model: ScoringModel,
        next: [i64; 3],
        txn_seq: u64,
    ) -> Result<PartitionTask, TaskError> {
        let partition = checkpoints.partition();
        let live = checkpoints.live();
        let mut db = PartitionDb::open(resources, &live)
            .map_err(|source| TaskError::State { partition, source })?;
        let mut processor = PartitionProcessor::new(params, model, partition);
        processor
            .load(&mut db)
            .map_err(|source| TaskError::Process { partition, source })?;
        // Every live DB records its position from the start, so any checkpoint cut from it is self-describing.
        db.commit_pending(&StatePosition {
            offsets: next,
            txn_seq,
        })
        .map_err(|source| TaskError::State { partition, source })?;
        Ok(PartitionTask {
            partition,
            db,
            processor,
            recorder: InterleavingRecorder::new(),
            checkpoints,
            next,
            txn_start: next,
            committed: next,
            txn_seq,
            sealed: None,
        })
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    pub fn next_offsets(&self) -> [i64; 3] {
        self.next
    }

    pub fn txn_seq(&self) -> u64 {
        self.txn_seq
    }

    pub fn watermark(&self) -> Option<i64> {
        self.processor.watermark()
    }

    pub fn state_bytes(&self) -> u64 {
        self.db.approximate_bytes()
    }

    pub fn memory(&self) -> PartitionMemory {
        self.db.memory()
    }

    pub fn block_cache(&self) -> BlockCacheUsage {
        self.db.block_cache()
    }

    /// Processes one record and records its place in the interleaving.
    pub fn process(
        &mut self,
        topic: SourceTopic,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        out: &mut Vec<Output>,
    ) -> Result<(), TaskError> {
        let rec = InputRecord {
            topic,
            partition: self.partition,
            offset,
            key,
            value,
        };
        self.processor
            .process(&mut self.db, rec, out)
            .map_err(|source| TaskError::Process {
                partition: self.partition,
                source,
            })?;
        self.recorder.push(topic);
        self.db.set_ttl_cutoff(self.processor.ttl_cutoff());
        if let Some(slot) = self.next.get_mut(usize::from(topic.index())) {
            *slot = offset + 1;
        }
        Ok(())
    }

    /// Ends the open transaction's share of this partition when its commit starts: the interleaving becomes
    /// its progress record, the state writes are frozen (reads still see them), and processing may go on into
    /// the next transaction. Call [`Self::committed`] once the commit succeeded and the epoch's state is written.
    pub fn seal(&mut self) -> SealedEpoch {
        let consumed = !self.recorder.is_empty();
        let txn_seq = self.txn_seq + u64::from(consumed);
        let progress = consumed.then(|| ProgressRecord {
            partition: self.partition,
            txn_seq,
            start_offsets: self.txn_start,
            end_offsets: self.next,
            runs: self.recorder.take(),
        });
        let state = (consumed || self.db.pending_writes() > 0).then(|| {
            self.db.seal(StatePosition {
                offsets: self.next,
                txn_seq,
            })
        });
        self.sealed = Some((self.next, txn_seq));
        self.txn_start = self.next;
        SealedEpoch {
            partition: self.partition,
            progress,
            offsets: self.next,
            state,
        }
    }

    /// The sealed transaction committed and its state was written: it is now part of the committed history.
    pub fn committed(&mut self) {
        if let Some((offsets, txn_seq)) = self.sealed.take() {
            self.committed = offsets;
            self.txn_seq = txn_seq;
            self.db.sealed_written();
        }
    }

    /// Called after the open transaction committed (local mode, replay): seals it and writes its state to
    /// RocksDB (one batch, with the new position) on this thread. Failing here leaves the process with state it
    /// cannot trust: the caller must exit and recover, which replays the committed transaction.
    pub fn on_committed(&mut self) -> Result<(), TaskError> {
        self.seal().write_state()?;
        self.committed();
        Ok(())
    }

    fn write_position(&mut self) -> Result<(), TaskError> {
        let position = StatePosition {
            offsets: self.next,
            txn_seq: self.txn_seq,
        };
        self.db
            .commit_pending(&position)
            .map_err(|source| TaskError::State {
                partition: self.partition,
                source,
            })
    }

    /// Offsets of the last committed transaction's end (where a restart would resume).
    pub fn committed_offsets(&self) -> [i64; 3] {
        self.committed
    }

    /// The partition's event-time watermark.
    pub fn watermark_ms(&self) -> Option<i64> {
        self.processor.watermark()
    }

    /// Takes a local checkpoint on this thread (local mode); the worker uses [`Self::checkpoint_source`].
    pub fn checkpoint(
        &mut self,
        retain: usize,
        pinned: impl Fn(u64) -> bool,
    ) -> Result<CheckpointMeta, TaskError> {
        self.checkpoint_source()
            .take(retain, pinned)
            .map(|(meta, _)| meta)
    }

    /// What a background thread needs to cut checkpoints of this partition while it keeps processing.
    pub fn checkpoint_source(&self) -> CheckpointSource {
        CheckpointSource {
            partition: self.partition,
            db: self.db.handle(),
            checkpoints: self.checkpoints.clone(),
            params: *self.processor.params(),
        }
    }
}

/// One partition's live DB as seen from the checkpointing thread.
pub struct CheckpointSource {
    pub partition: i32,
    db: DbHandle,
    checkpoints: LocalCheckpoints,
    params: JobParams,
}

impl CheckpointSource {
    /// Cuts a local checkpoint (flush + hard links; the processing thread keeps going) and keeps the newest
    /// `retain` plus whatever `pinned` says an upload still reads. Returns it with the watermark it reflects.
    pub fn take(
        &self,
        retain: usize,
        pinned: impl Fn(u64) -> bool,
    ) -> Result<(CheckpointMeta, Option<i64>), TaskError> {
        let err = |source| TaskError::State {
            partition: self.partition,
            source,
        };
        let (meta, captured) = self.checkpoints.take(&self.db).map_err(err)?;
        self.checkpoints.retain(retain, pinned).map_err(err)?;
        Ok((meta, self.watermark(&captured)))
    }

    fn watermark(&self, captured: &Captured) -> Option<i64> {
        let max = captured
            .meta
            .as_deref()
            .and_then(|b| PartitionMeta::decode(b).ok())
            .and_then(|m| m.max_event_time_ms);
        self.params.watermark_for(max)
    }
}

impl PartitionTask {
    /// Moves the resume position (after replay, to the committed frontier). Only valid with no open input.
    pub fn set_next_offsets(&mut self, next: [i64; 3]) -> Result<(), TaskError> {
        self.next = next;
        self.txn_start = next;
        self.committed = next;
        self.write_position()
    }
}
