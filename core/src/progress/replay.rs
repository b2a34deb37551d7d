//! Turns recorded progress into the exact (topic, offset) sequence to feed on replay.
//!
//! Validation is strict because a replay that silently skips or reorders a record would produce
//! different outputs while claiming to reproduce the original run.

use thiserror::Error;

use super::ProgressRecord;
use crate::event::SourceTopic;

/// Why recorded progress cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplayError {
    #[error(
        "txn {txn_seq}: runs account for {run_total} {} records but offsets {start}..{end} cannot hold that many",
        topic.name()
    )]
    RunMismatch {
        txn_seq: u64,
        topic: SourceTopic,
        start: i64,
        end: i64,
        run_total: u64,
    },
    #[error("txn {txn_seq} is for partition {got}, expected {expected}")]
    PartitionMismatch {
        txn_seq: u64,
        expected: i32,
        got: i32,
    },
    #[error("txn {got} follows txn {previous}: sequence numbers must increase by exactly 1")]
    SequenceGap { previous: u64, got: u64 },
    #[error("txn {txn_seq}: {} starts at offset {start} but the previous transaction ended at {previous_end}", topic.name())]
    OffsetGap {
        txn_seq: u64,
        topic: SourceTopic,
        start: i64,
        previous_end: i64,
    },
}

impl ReplayError {
    /// Bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RunMismatch { .. } => "run_mismatch",
            Self::PartitionMismatch { .. } => "partition_mismatch",
            Self::SequenceGap { .. } => "sequence_gap",
            Self::OffsetGap { .. } => "offset_gap",
        }
    }
}

/// One record to feed during replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayStep {
    pub txn_seq: u64,
    pub topic: SourceTopic,
    pub offset: i64,
}

/// A validated, contiguous sequence of progress records for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayPlan {
    records: Vec<ProgressRecord>,
}

impl ReplayPlan {
    /// Validate: one partition, consecutive `txn_seq`, each transaction starting where the previous
    /// ended, and run totals matching offset ranges.
    pub fn new(records: Vec<ProgressRecord>) -> Result<Self, ReplayError> {
        let mut prev: Option<&ProgressRecord> = None;
        for rec in &records {
            rec.check()?;
            if let Some(p) = prev {
                if rec.partition != p.partition {
                    return Err(ReplayError::PartitionMismatch {
                        txn_seq: rec.txn_seq,
                        expected: p.partition,
                        got: rec.partition,
                    });
                }
                if p.txn_seq.checked_add(1) != Some(rec.txn_seq) {
                    return Err(ReplayError::SequenceGap {
                        previous: p.txn_seq,
                        got: rec.txn_seq,
                    });
                }
                for topic in SourceTopic::ALL {
                    let i = topic.slot();
                    let start = rec.start_offsets.get(i).copied().unwrap_or_default();
                    let previous_end = p.end_offsets.get(i).copied().unwrap_or_default();
                    if start != previous_end {
                        return Err(ReplayError::OffsetGap {
                            txn_seq: rec.txn_seq,
                            topic,
                            start,
                            previous_end,
                        });
                    }
                }
            }
            prev = Some(rec);
        }
        Ok(Self { records })
    }

    /// Where the replay must seek each topic (None for an empty plan).
    pub fn start_offsets(&self) -> Option<[i64; 3]> {
        self.records.first().map(|r| r.start_offsets)
    }

    /// Next offsets after the replay (None for an empty plan).
    pub fn end_offsets(&self) -> Option<[i64; 3]> {
        self.records.last().map(|r| r.end_offsets)
    }

    pub fn records(&self) -> &[ProgressRecord] {
        &self.records
    }

    /// Every record to feed, in the original processing order. The offsets are exact only for gap-free
    /// topics (plain producers); the worker itself replays by reading records, bounded by `end_offsets`.
    pub fn steps(&self) -> impl Iterator<Item = ReplayStep> + '_ {
        self.records.iter().flat_map(|rec| {
            let mut next = rec.start_offsets;
            rec.runs.iter().flat_map(move |&(topic, len)| {
                let first = next.get(topic.slot()).copied().unwrap_or_default();
                if let Some(slot) = next.get_mut(topic.slot()) {
                    *slot = slot.saturating_add(i64::from(len));
                }
                (0..i64::from(len)).map(move |k| ReplayStep {
                    txn_seq: rec.txn_seq,
                    topic,
                    offset: first.saturating_add(k),
                })
            })
        })
    }

    /// Just the topic order (what a consumer multiplexing three streams needs).
    pub fn topics(&self) -> impl Iterator<Item = SourceTopic> + '_ {
        self.steps().map(|s| s.topic)
    }
}
