//! The progress log `<transactionalIdPrefix>.progress`: one record per input partition per transaction,
//! written inside that transaction, saying which input offsets it consumed and in which topic interleaving.
//! Replay reads it back so that recovery feeds records to the processor in exactly the original order.

use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use sluice_core::progress::ProgressRecord;

use super::{EofAwareContext, EofConsumer, KafkaOpError, kerr};

/// Why the progress log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProgressLogError {
    #[error(transparent)]
    Kafka(#[from] KafkaOpError),
    #[error("progress record at {topic}/{partition}@{offset} is corrupt: {reason}")]
    Corrupt {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
    #[error("reading {topic}/{partition} did not reach its end within {secs}s")]
    Timeout {
        topic: String,
        partition: i32,
        secs: u64,
    },
}

/// Key of progress records (one partition per input partition; the key is informational).
pub fn progress_key(partition: i32) -> Vec<u8> {
    format!("p{partition}").into_bytes()
}

/// Reads every committed progress record of `partition`, in log order.
///
/// `consumer_config` must be a read_committed consumer config; partition EOF events mark the end, because the
/// last offsets of a transactional partition are commit markers that a consumer never returns.
pub fn read_all(
    consumer_config: &ClientConfig,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<Vec<ProgressRecord>, ProgressLogError> {
    let mut cfg = consumer_config.clone();
    cfg.set("enable.partition.eof", "true");
    let consumer: EofConsumer = cfg
        .create_with_context(EofAwareContext)
        .map_err(kerr("creating the progress log reader"))?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .map_err(kerr("building the progress assignment"))?;
    consumer
        .assign(&tpl)
        .map_err(kerr("assigning the progress partition"))?;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        if Instant::now() >= deadline {
            return Err(ProgressLogError::Timeout {
                topic: topic.to_string(),
                partition,
                secs: timeout.as_secs(),
            });
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(out),
            Some(Err(e)) => return Err(kerr(format!("reading {topic}/{partition}"))(e).into()),
            Some(Ok(msg)) => {
                let bytes = msg.payload().unwrap_or_default();
                let rec = ProgressRecord::decode(bytes).map_err(|e| ProgressLogError::Corrupt {
                    topic: topic.to_string(),
                    partition,
                    offset: msg.offset(),
                    reason: e.to_string(),
                })?;
                out.push(rec);
            }
        }
    }
}
