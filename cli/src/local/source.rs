//! The local "topics": the generator's stream with Kafka-like offsets. A record's offset is its index within
//! its (topic, partition) in generator order, so regenerating with the same settings re-reads exactly the
//! same records at the same offsets — the source is replayable, like a Kafka topic, without storing it.

use sluice_core::event::SourceTopic;

use super::LocalError;
use sluice_generator::{GeneratedRecord, Generator, GeneratorConfig};

/// One input record with its place in the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRecord {
    /// Position in generator order over all topics and partitions (0-based).
    pub index: u64,
    /// Offset within (record.topic, record.partition).
    pub offset: i64,
    pub record: GeneratedRecord,
}

impl SourceRecord {
    pub fn topic(&self) -> SourceTopic {
        self.record.topic
    }

    pub fn partition(&self) -> i32 {
        self.record.partition
    }
}

/// The generator plus per-(partition, topic) offset counters.
pub struct LocalSource {
    generator: Generator,
    /// Next offset per partition, indexed by `SourceTopic::index`.
    next: Vec<[i64; 3]>,
    index: u64,
}

impl LocalSource {
    pub fn new(cfg: &GeneratorConfig) -> LocalSource {
        let partitions = usize::try_from(cfg.partitions).unwrap_or(0);
        LocalSource {
            generator: Generator::new(cfg.clone()),
            next: vec![[0; 3]; partitions],
            index: 0,
        }
    }

    /// Records handed out so far.
    pub fn position(&self) -> u64 {
        self.index
    }

    /// Next offsets of `partition` per topic (the offsets a consumer that read everything so far would commit).
    pub fn next_offsets(&self, partition: i32) -> Option<[i64; 3]> {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.next.get(p))
            .copied()
    }

    /// The next record, `None` at the end of the stream.
    pub fn next_record(&mut self) -> Result<Option<SourceRecord>, LocalError> {
        let Some(record) = self.generator.next() else {
            return Ok(None);
        };
        let slot = usize::try_from(record.partition)
            .ok()
            .and_then(|p| self.next.get_mut(p))
            .and_then(|offsets| offsets.get_mut(usize::from(record.topic.index())));
        let Some(slot) = slot else {
            return Err(LocalError::SourceMismatch {
                reason: format!(
                    "the generator produced a record for partition {} but only {} partitions exist",
                    record.partition,
                    self.next.len()
                ),
            });
        };
        let offset = *slot;
        *slot += 1;
        let index = self.index;
        self.index += 1;
        Ok(Some(SourceRecord {
            index,
            offset,
            record,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_per_topic_and_partition() {
        let cfg = GeneratorConfig {
            cards: 20,
            authorizations: 200,
            partitions: 3,
            ..GeneratorConfig::default()
        };
        let mut src = LocalSource::new(&cfg);
        let mut seen = std::collections::BTreeMap::new();
        while let Some(r) = src.next_record().unwrap() {
            let next = seen.entry((r.partition(), r.topic())).or_insert(0i64);
            assert_eq!(r.offset, *next);
            *next += 1;
        }
        assert_eq!(
            src.position(),
            seen.values().map(|n| *n as u64).sum::<u64>()
        );
        for p in 0..3 {
            let expected: Vec<i64> = SourceTopic::ALL
                .iter()
                .map(|t| seen.get(&(p, *t)).copied().unwrap_or(0))
                .collect();
            assert_eq!(src.next_offsets(p).unwrap().to_vec(), expected);
        }
    }
}
