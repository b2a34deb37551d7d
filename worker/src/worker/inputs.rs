//! The worker's input: one read_committed consumer per source topic, each assigned the owned partitions.
//! Separate consumers make partition-EOF events unambiguous, which tells the inbox when a topic partition is
//! caught up (so it need not wait for it before processing the other topics).

use std::collections::BTreeSet;
use std::ffi::CString;
use std::time::Duration;

use rdkafka::Message;
use rdkafka::consumer::{Consumer, ConsumerGroupMetadata};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sluice_core::event::SourceTopic;
use sluice_core::processor::OwnedInputRecord;

use super::inbox::TopicState;
use crate::kafka::cached_watermark::cached_high_watermark;
use crate::kafka::{EofAwareContext, EofConsumer, KafkaOpError, kerr};

pub struct Inputs {
    consumers: Vec<(SourceTopic, CString, EofConsumer)>,
    /// (topic, partition) pairs at end of log with nothing received since.
    caught_up: BTreeSet<(u8, i32)>,
    /// (topic, partition) pairs that have answered at all (a record or end-of-log) since assignment.
    heard: BTreeSet<(u8, i32)>,
    next: usize,
}

impl Inputs {
    /// Creates the consumers and assigns each owned partition at `start(topic, partition)`.
    pub fn open(
        config: &ClientConfig,
        names: [&str; 3],
        partitions: &[i32],
        start: impl Fn(SourceTopic, i32) -> i64,
    ) -> Result<Inputs, KafkaOpError> {
        let mut consumers = Vec::new();
        for (topic, name) in SourceTopic::ALL.into_iter().zip(names) {
            let mut cfg = config.clone();
            cfg.set("enable.partition.eof", "true");
            let c: EofConsumer = cfg
                .create_with_context(EofAwareContext)
                .map_err(kerr(format!("creating the {name} consumer")))?;
            let mut tpl = TopicPartitionList::new();
            for &p in partitions {
                tpl.add_partition_offset(name, p, Offset::Offset(start(topic, p)))
                    .map_err(kerr("building the assignment"))?;
            }
            c.assign(&tpl).map_err(kerr(format!("assigning {name}")))?;
            let c_name = CString::new(name).map_err(|_| KafkaOpError {
                action: format!("topic name {name:?} contains a NUL byte"),
                source: KafkaError::ClientCreation("invalid topic name".into()),
            })?;
            consumers.push((topic, c_name, c));
        }
        Ok(Inputs {
            consumers,
            caught_up: BTreeSet::new(),
            heard: BTreeSet::new(),
            next: 0,
        })
    }

    /// What is known about `topic`/`partition` (used when its inbox queue is empty).
    pub fn state(&self, topic: SourceTopic, partition: i32) -> TopicState {
        let key = (topic.index(), partition);
        if self.caught_up.contains(&key) {
            TopicState::CaughtUp
        } else if self.heard.contains(&key) {
            TopicState::Behind
        } else {
            TopicState::Unknown
        }
    }

    /// Group metadata for `send_offsets_to_transaction` (all consumers share the job's group id).
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        self.consumers
            .first()
            .and_then(|(_, _, c)| c.group_metadata())
    }

    /// Moves everything the consumers have buffered locally (up to `max_per_topic` records per topic per call)
    /// into `sink`; waits up to `timeout` on the first consumer only if none had anything. Draining by
    /// availability rather than one record per topic in turn matters: topics differ in density, and a
    /// count-fair poll would starve the dense topic in event time.
    pub fn poll_into(
        &mut self,
        timeout: Duration,
        max_per_topic: usize,
        skip: impl Fn(SourceTopic) -> bool,
        mut sink: impl FnMut(Consumed),
    ) -> Result<usize, KafkaOpError> {
        let mut got = 0;
        for idx in 0..self.consumers.len() {
            if self
                .consumers
                .get(idx)
                .is_some_and(|(topic, _, _)| skip(*topic))
            {
                continue;
            }
            for _ in 0..max_per_topic {
                match self.poll_one(idx, Duration::ZERO, &mut sink)? {
                    Poll::Empty => break,
                    Poll::Record => got += 1,
                    Poll::Event => {}
                }
            }
        }
        if got == 0 && !timeout.is_zero() {
            // Nothing anywhere: block briefly on one consumer (rotating) so an idle worker does not spin.
            self.next = (self.next + 1) % self.consumers.len().max(1);
            if let Poll::Record = self.poll_one(self.next, timeout, &mut sink)? {
                got += 1;
            }
        }
        Ok(got)
    }
}

/// One consumed record, copied out of the consumer's buffer. Only what processing needs: rdkafka's
/// `OwnedMessage` would also parse and copy the headers and the topic name of every record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub record: OwnedInputRecord,
    /// The input's timestamp, which its outputs carry (as Kafka Streams does).
    pub timestamp_ms: Option<i64>,
}

/// What one poll of one consumer produced.
enum Poll {
    /// Nothing was ready.
    Empty,
    /// A record, handed to the sink.
    Record,
    /// An end-of-log or transient error event.
    Event,
}

impl Inputs {
    /// Polls consumer `idx` once, updating the caught-up bookkeeping and handing a record to `sink`.
    fn poll_one(
        &mut self,
        idx: usize,
        timeout: Duration,
        sink: &mut impl FnMut(Consumed),
    ) -> Result<Poll, KafkaOpError> {
        let Some((topic, name, consumer)) = self.consumers.get(idx) else {
            return Ok(Poll::Empty);
        };
        let topic = *topic;
        match consumer.poll(timeout) {
            None => Ok(Poll::Empty),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                self.caught_up.insert((topic.index(), p));
                self.heard.insert((topic.index(), p));
                Ok(Poll::Event)
            }
            Some(Err(e)) if is_fatal(&e) => {
                Err(kerr(format!("consuming {}", name.to_string_lossy()))(e))
            }
            Some(Err(e)) => {
                tracing::warn!(topic = %name.to_string_lossy(), error = %e, "transient consume error");
                Ok(Poll::Event)
            }
            Some(Ok(m)) => {
                let partition = m.partition();
                let offset = m.offset();
                let key = (topic.index(), partition);
                // The last record below the high watermark of the latest fetch response leaves the partition
                // caught up: waiting for the end-of-log event (the next, empty fetch) would hold the task's
                // other topics back for a fetch round trip after nearly every record of a sparse topic.
                let last_known = cached_high_watermark(consumer, name, partition)
                    .is_some_and(|high| offset + 1 >= high);
                if last_known {
                    self.caught_up.insert(key);
                } else {
                    self.caught_up.remove(&key);
                }
                self.heard.insert(key);
                sink(Consumed {
                    record: OwnedInputRecord {
                        topic,
                        partition,
                        offset,
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                    },
                    timestamp_ms: m.timestamp().to_millis(),
                });
                Ok(Poll::Record)
            }
        }
    }
}

fn is_fatal(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    e.rdkafka_error_code()
        .is_some_and(|c| matches!(c, C::Fatal | C::Fenced | C::ProducerFenced))
}
