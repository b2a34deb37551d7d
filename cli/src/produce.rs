//! `sluice produce`: writes the deterministic generator's records into the input topics at a fixed rate
//! (or as fast as possible), each record to the partition Kafka's Java partitioner would choose for its
//! card_id, so the three input topics stay co-partitioned.

use std::time::{Duration, Instant};

use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use sluice_api::job_config::TopicsConfig;

use sluice_generator::{GeneratedRecord, Generator, GeneratorConfig};
use sluice_worker::kafka::clients::input_topic;
use sluice_worker::kafka::{KafkaOpError, kerr};

use crate::kafka_connection::KafkaConnection;

/// What was produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProduceSummary {
    pub records: u64,
    pub authorizations: u64,
    pub elapsed: Duration,
}

/// Produces every generated record. `rate` is records per second (0 = unlimited). Idempotent producer with
/// acks=all, so a retry never duplicates an input record. `conn` is an address (`&str`) or a
/// [`KafkaConnection`] with the client properties of a secured cluster.
pub fn produce(
    conn: impl Into<KafkaConnection>,
    topics: &TopicsConfig,
    generator: GeneratorConfig,
    rate: u32,
    mut on_progress: impl FnMut(u64),
) -> Result<ProduceSummary, KafkaOpError> {
    let producer: ThreadedProducer<DefaultProducerContext> = conn
        .into()
        .client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .map_err(kerr("creating the load producer"))?;
    let started = Instant::now();
    let mut summary = ProduceSummary::default();
    for rec in Generator::new(generator) {
        if rate > 0 {
            // Pace against the schedule, not the previous send, so the average rate is exact.
            let due = Duration::from_secs_f64(summary.records as f64 / f64::from(rate));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        send(&producer, topics, &rec)?;
        summary.records += 1;
        summary.authorizations += u64::from(rec.txn_id.is_some());
        if summary.records % 10_000 == 0 {
            on_progress(summary.records);
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(kerr("flushing produced records"))?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topics: &TopicsConfig,
    rec: &GeneratedRecord,
) -> Result<(), KafkaOpError> {
    let topic = input_topic(topics, rec.topic);
    let mut record = BaseRecord::to(topic)
        .partition(rec.partition)
        .key(&rec.key[..])
        .payload(&rec.value[..]);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                r,
            )) => {
                record = r;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err((e, _)) => return Err(kerr(format!("producing to {topic}"))(e)),
        }
    }
}
