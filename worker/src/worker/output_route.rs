//! Encoded output records and where they go: the topic for their kind, and the same partition number as
//! their input where the topic has it, so a card's outputs keep their order.

use rdkafka::producer::{BaseRecord, DefaultProducerContext, ThreadedProducer};
use sluice_api::job_config::TopicsConfig;
use sluice_core::processor::{Output, OutputKind};

use crate::kafka::topics::TopicLayout;
use crate::kafka::{KafkaOpError, kerr, send_with_backpressure};

/// An output record, encoded and routed, ready to send (or to hold in the output gate).
pub struct EncodedOutput {
    pub kind: OutputKind,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub source_partition: i32,
    /// The input's timestamp, which its outputs carry (as Kafka Streams does).
    pub timestamp: Option<i64>,
}

impl EncodedOutput {
    pub fn new(
        out: &Output,
        source_partition: i32,
        timestamp: Option<i64>,
    ) -> Result<Self, serde_json::Error> {
        Ok(EncodedOutput {
            kind: out.kind(),
            key: out.key_bytes().map(<[u8]>::to_vec),
            value: out.to_json_bytes()?,
            source_partition,
            timestamp,
        })
    }
}

/// Sends outputs into the open transaction. Shared by the processing threads: the producer is thread-safe
/// and each partition's outputs come from one thread, in order.
#[derive(Clone, Copy)]
pub struct OutputRoute<'a> {
    pub producer: &'a ThreadedProducer<DefaultProducerContext>,
    pub topics: &'a TopicsConfig,
    pub layout: &'a TopicLayout,
}

impl OutputRoute<'_> {
    pub fn send(&self, out: &EncodedOutput) -> Result<(), KafkaOpError> {
        let t = self.topics;
        let (topic, count) = match out.kind {
            OutputKind::Decisions => (&t.decisions, self.layout.decisions),
            OutputKind::Alerts => (&t.alerts, self.layout.alerts),
            OutputKind::Dlq => (&t.dlq, self.layout.dlq),
            OutputKind::Late => (&t.late, self.layout.late),
        };
        let partition = out
            .source_partition
            .rem_euclid(i32::try_from(count.max(1)).unwrap_or(1));
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .partition(partition)
            .payload(&out.value[..]);
        if let Some(k) = out.key.as_deref() {
            record = record.key(k);
        }
        if let Some(ts) = out.timestamp {
            record = record.timestamp(ts);
        }
        send_with_backpressure(self.producer, record).map_err(kerr("producing an output record"))
    }
}
