//! Recorded input interleaving, so a replay feeds records in exactly the original order.
//!
//! Kafka orders records within one topic-partition but says nothing about how partition P of the
//! three input topics interleave when consumed together. The processor's output depends on that
//! order (watermark, lateness, "previous transaction"), so each output transaction also writes a
//! [`ProgressRecord`]: per topic the offset range consumed, plus the topic sequence as run lengths.

mod recorder;
mod replay;
#[cfg(test)]
mod tests;

pub use recorder::InterleavingRecorder;
pub use replay::{ReplayError, ReplayPlan, ReplayStep};

use crate::codec::{Reader, StateDecodeError, Writer};
use crate::event::SourceTopic;

/// Schema version written by [`ProgressRecord::encode`].
pub const PROGRESS_VERSION: u8 = 1;

/// What one transaction consumed from one partition of the three input topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressRecord {
    pub partition: i32,
    /// Transaction sequence number on this partition, +1 per committed transaction.
    pub txn_seq: u64,
    /// First offset read per topic (indexed by [`SourceTopic::index`]).
    pub start_offsets: [i64; 3],
    /// Next offset to read per topic after this transaction.
    pub end_offsets: [i64; 3],
    /// Topic of each consumed record, in processing order, as (topic, run length).
    pub runs: Vec<(SourceTopic, u32)>,
}

impl ProgressRecord {
    /// Layout v1: `u8 version, ivar partition, uvar txn_seq, 3 × ivar start, 3 × ivar end,
    /// uvar n_runs, n × (u8 topic index, uvar run length)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_version(PROGRESS_VERSION);
        w.ivar(i64::from(self.partition));
        w.uvar(u128::from(self.txn_seq));
        for o in self.start_offsets.iter().chain(&self.end_offsets) {
            w.ivar(*o);
        }
        w.len(self.runs.len());
        for (topic, len) in &self.runs {
            w.u8(topic.index());
            w.uvar(u128::from(*len));
        }
        w.into_bytes()
    }

    /// Decode; never panics on arbitrary bytes. Structural checks only; see
    /// [`ProgressRecord::check`] for offset/run consistency.
    pub fn decode(bytes: &[u8]) -> Result<Self, StateDecodeError> {
        let (&version, body) = bytes.split_first().ok_or(StateDecodeError::Empty)?;
        if version != PROGRESS_VERSION {
            return Err(StateDecodeError::UnsupportedVersion {
                what: "progress record",
                found: version,
                supported: "1",
            });
        }
        let mut r = Reader::new(body);
        let partition = i32::try_from(r.ivar("partition")?)
            .map_err(|_| StateDecodeError::OutOfRange { what: "partition" })?;
        let txn_seq = r.u64("txn_seq")?;
        let mut start_offsets = [0i64; 3];
        for o in &mut start_offsets {
            *o = r.ivar("start offset")?;
        }
        let mut end_offsets = [0i64; 3];
        for o in &mut end_offsets {
            *o = r.ivar("end offset")?;
        }
        let n = r.len("runs", 2)?;
        let mut runs = Vec::with_capacity(n);
        for _ in 0..n {
            let tag = r.u8("run topic")?;
            let topic = SourceTopic::from_index(tag).ok_or(StateDecodeError::InvalidTag {
                what: "run topic",
                tag,
            })?;
            runs.push((topic, r.u32("run length")?));
        }
        r.finish()?;
        Ok(Self {
            partition,
            txn_seq,
            start_offsets,
            end_offsets,
            runs,
        })
    }

    /// Records consumed per topic according to the runs (u64: cannot overflow for u32 runs).
    pub fn run_totals(&self) -> [u64; 3] {
        let mut totals = [0u64; 3];
        for (topic, len) in &self.runs {
            if let Some(slot) = totals.get_mut(topic.slot()) {
                *slot = slot.saturating_add(u64::from(*len));
            }
        }
        totals
    }

    /// Check that the runs account for at most `end - start` records of each topic. Fewer is legal:
    /// offsets of transactional or compacted input topics have gaps (commit markers, removed records),
    /// so the runtime replays by reading actual records, bounded by `end`, never by offset arithmetic.
    pub fn check(&self) -> Result<(), ReplayError> {
        let totals = self.run_totals();
        for topic in SourceTopic::ALL {
            let i = topic.slot();
            let (start, end, total) = (
                self.start_offsets.get(i).copied().unwrap_or_default(),
                self.end_offsets.get(i).copied().unwrap_or_default(),
                totals.get(i).copied().unwrap_or_default(),
            );
            let span = end.checked_sub(start).and_then(|d| u64::try_from(d).ok());
            if span.is_none_or(|span| total > span) {
                return Err(ReplayError::RunMismatch {
                    txn_seq: self.txn_seq,
                    topic,
                    start,
                    end,
                    run_total: total,
                });
            }
        }
        Ok(())
    }
}
