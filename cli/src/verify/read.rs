//! Reading whole topic partitions as a read_committed consumer would: what an auditor sees.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::{Offset, TopicPartitionList};

use sluice_worker::kafka::{EofAwareContext, EofConsumer, KafkaOpError, kerr};

use crate::kafka_connection::KafkaConnection;

/// Reads every committed record of `topic` partitions `0..partitions` (read_committed), returning them per
/// partition in offset order. Ends at partition EOF: the end as of reading.
pub fn read_topic(
    conn: &KafkaConnection,
    topic: &str,
    partitions: usize,
    timeout: Duration,
) -> Result<Vec<Vec<OwnedMessage>>, KafkaOpError> {
    let mut out: Vec<Vec<OwnedMessage>> = vec![Vec::new(); partitions];
    if partitions == 0 {
        return Ok(out);
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
    for p in 0..partitions {
        tpl.add_partition_offset(
            topic,
            i32::try_from(p).unwrap_or(i32::MAX),
            Offset::Beginning,
        )
        .map_err(kerr("building a reader assignment"))?;
    }
    consumer
        .assign(&tpl)
        .map_err(kerr(format!("assigning {topic}")))?;
    let mut at_eof = vec![false; partitions];
    let deadline = Instant::now() + timeout;
    while at_eof.iter().any(|e| !e) {
        if Instant::now() >= deadline {
            return Err(kerr(format!("reading {topic} to its end"))(
                KafkaError::Canceled,
            ));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                if let Some(e) = usize::try_from(p).ok().and_then(|p| at_eof.get_mut(p)) {
                    *e = true;
                }
            }
            Some(Err(e)) => return Err(kerr(format!("reading {topic}"))(e)),
            Some(Ok(m)) => {
                let m = m.detach();
                if let Some(slot) = usize::try_from(m_partition(&m))
                    .ok()
                    .and_then(|p| out.get_mut(p))
                {
                    slot.push(m);
                }
            }
        }
    }
    Ok(out)
}

fn m_partition(m: &OwnedMessage) -> i32 {
    use rdkafka::Message;
    m.partition()
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
