//! Builds the run-length interleaving while a transaction consumes records.

use crate::event::SourceTopic;

/// Accumulates the topic of each processed record. Runs of the same topic merge, so a
/// transaction that mostly reads authorizations costs a handful of bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterleavingRecorder {
    runs: Vec<(SourceTopic, u32)>,
}

impl InterleavingRecorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record that the next processed record came from `topic`. Call for every record fed to the
    /// processor, including ones that end up in the DLQ or late topic.
    pub fn push(&mut self, topic: SourceTopic) {
        match self.runs.last_mut() {
            Some((last, len)) if *last == topic && *len < u32::MAX => *len += 1,
            // A full run simply starts a new one of the same topic; replay does not care.
            _ => self.runs.push((topic, 1)),
        }
    }

    /// Records pushed since the last `take`.
    pub fn len(&self) -> u64 {
        self.runs.iter().map(|(_, n)| u64::from(*n)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Runs so far, resetting the recorder for the next transaction.
    pub fn take(&mut self) -> Vec<(SourceTopic, u32)> {
        std::mem::take(&mut self.runs)
    }
}
