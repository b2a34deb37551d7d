//! Reading topic partitions as a read_committed consumer would: what an auditor sees.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, OwnedMessage};
use rdkafka::{Message, Offset, TopicPartitionList};

use sluice_worker::kafka::{EofAwareContext, EofConsumer, KafkaOpError, kerr};

use crate::kafka_connection::KafkaConnection;

/// Calls `each` with every committed record of `topic`'s `partitions` (read_committed), in offset order
/// within a partition, up to each partition's end as of reading. Fails when no record and no end arrives
/// for `idle`: a long topic may take long to read, a stuck one must not hang.
pub fn for_each_record(
    conn: &KafkaConnection,
    topic: &str,
    partitions: &[i32],
    idle: Duration,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<(), KafkaOpError> {
    if partitions.is_empty() {
        return Ok(());
    }
    let consumer: EofConsumer = conn
        .client_config()
        .set("group.id", "sluice-verify")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "50")
        .create_with_context(EofAwareContext)
        .map_err(kerr("creating a reader"))?;
    let mut tpl = TopicPartitionList::new();
    for &p in partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(kerr("building a reader assignment"))?;
    }
    consumer
        .assign(&tpl)
        .map_err(kerr(format!("assigning {topic}")))?;
    let mut open: Vec<i32> = partitions.to_vec();
    let mut last_progress = Instant::now();
    while !open.is_empty() {
        if last_progress.elapsed() >= idle {
            return Err(kerr(format!("reading {topic} to its end"))(
                KafkaError::Canceled,
            ));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.retain(|&o| o != p);
                last_progress = Instant::now();
            }
            Some(Err(e)) => return Err(kerr(format!("reading {topic}"))(e)),
            Some(Ok(m)) => {
                each(&m);
                last_progress = Instant::now();
            }
        }
    }
    Ok(())
}

/// Every committed record of `topic` partitions `0..partitions`, per partition in offset order.
pub fn read_topic(
    conn: &KafkaConnection,
    topic: &str,
    partitions: usize,
    idle: Duration,
) -> Result<Vec<Vec<OwnedMessage>>, KafkaOpError> {
    let mut out: Vec<Vec<OwnedMessage>> = vec![Vec::new(); partitions];
    for_each_record(conn, topic, &partition_ids(partitions), idle, |m| {
        if let Some(slot) = usize::try_from(m.partition())
            .ok()
            .and_then(|p| out.get_mut(p))
        {
            slot.push(m.detach());
        }
    })?;
    Ok(out)
}

/// The ids of partitions `0..count`.
pub fn partition_ids(count: usize) -> Vec<i32> {
    (0..count)
        .map(|p| i32::try_from(p).unwrap_or(i32::MAX))
        .collect()
}

/// The number of partitions of `topic` (0 if it does not exist).
pub fn partition_count(conn: &KafkaConnection, topic: &str) -> Result<usize, KafkaOpError> {
    let consumer: BaseConsumer = conn
        .client_config()
        .create()
        .map_err(kerr("creating a metadata client"))?;
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .map_err(kerr(format!("fetching metadata of {topic}")))?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len()))
}
