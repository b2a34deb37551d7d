//! Reads one source partition's committed decisions from the `decisions` topic, read_committed.
//!
//! Decisions of source partition `p` live in decisions partition `p mod D`, in input order (one producer per
//! partition at a time; zombies are fenced). The reader stops at the first decision of `p` at or beyond the
//! covered input offset, or once it has passed the partition's high watermark taken at the start — every
//! decision below a completed snapshot's offsets was committed before that, so nothing can be missed, and an
//! open transaction of another writer in between only makes the read wait for its outcome.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use sluice_core::processor::DecisionRecord;

use super::sink::AuditSinkError;

/// One partition's read: the decisions and where the next read continues (a decisions-topic offset).
#[derive(Debug, Default)]
pub struct PartitionRead {
    pub rows: Vec<DecisionRecord>,
    pub next_position: i64,
}

/// What to read.
pub struct ReadRequest<'a> {
    pub topic: &'a str,
    /// Partitions of the decisions topic.
    pub decisions_partitions: i32,
    pub source_partition: i32,
    /// Decisions-topic offset to start at (None: the earliest retained).
    pub from: Option<i64>,
    /// Exclusive bound on the decisions' source (input) offset.
    pub until_source_offset: i64,
    pub timeout: Duration,
}

pub fn read_partition(
    config: &ClientConfig,
    req: &ReadRequest<'_>,
) -> Result<PartitionRead, AuditSinkError> {
    let d = req
        .source_partition
        .rem_euclid(req.decisions_partitions.max(1));
    let kafka = |what: &str| {
        let what = format!("{what} ({}/{d})", req.topic);
        move |e: rdkafka::error::KafkaError| AuditSinkError::Kafka(format!("{what}: {e}"))
    };
    let consumer: BaseConsumer = config.create().map_err(kafka("creating the reader"))?;
    let (low, high) = consumer
        .fetch_watermarks(req.topic, d, req.timeout)
        .map_err(kafka("reading watermarks"))?;
    let start = req.from.unwrap_or(low).max(low);
    let mut out = PartitionRead {
        rows: Vec::new(),
        next_position: start,
    };
    if start >= high {
        return Ok(out);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(req.topic, d, Offset::Offset(start))
        .map_err(kafka("building the assignment"))?;
    consumer.assign(&tpl).map_err(kafka("assigning"))?;
    let deadline = Instant::now() + req.timeout;
    loop {
        if Instant::now() > deadline {
            return Err(AuditSinkError::Timeout {
                topic: req.topic.to_string(),
                partition: d,
                position: out.next_position,
                high,
            });
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(msg)) => {
                if msg.offset() >= high {
                    break;
                }
                let rec: DecisionRecord = serde_json::from_slice(msg.payload().unwrap_or(&[]))
                    .map_err(|e| AuditSinkError::Decode {
                        topic: req.topic.to_string(),
                        partition: d,
                        offset: msg.offset(),
                        reason: e.to_string(),
                    })?;
                if rec.source_partition == req.source_partition {
                    if rec.source_offset >= req.until_source_offset {
                        // Belongs to a later snapshot: the next read starts here.
                        out.next_position = msg.offset();
                        return Ok(out);
                    }
                    out.rows.push(rec);
                }
                out.next_position = msg.offset() + 1;
            }
            Some(Err(e)) => return Err(kafka("reading decisions")(e)),
            None => {
                // Aborted records and transaction markers are skipped without a message; the position shows it.
                let position = consumer
                    .position()
                    .ok()
                    .and_then(|p| p.find_partition(req.topic, d).map(|e| e.offset()));
                if let Some(Offset::Offset(pos)) = position
                    && pos >= high
                {
                    break;
                }
            }
        }
    }
    out.next_position = out.next_position.max(high);
    Ok(out)
}
