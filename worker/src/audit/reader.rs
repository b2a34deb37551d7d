//! Reads one source partition's committed decisions from the `decisions` topic, read_committed.
//!
//! Decisions of source partition `p` live in decisions partition `p` (the sink requires as many decisions
//! partitions as input partitions), in input order, written by one producer at a time (a restarted worker's
//! `init_transactions` aborts its predecessor's open transaction first). The reader stops at the first decision
//! of `p` at or beyond the covered input offset, or at the end of the committed data (partition EOF, which
//! read_committed puts at the last stable offset). Every decision below a completed snapshot's offsets belongs
//! to a transaction that committed before the writer's current one began, so it lies below that end.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
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
    let consumer: BaseConsumer = config
        .clone()
        .set("enable.partition.eof", "true")
        .create()
        .map_err(kafka("creating the reader"))?;
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
            // The end of the committed data (aborted records and markers before it are skipped silently).
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(out),
            Some(Err(e)) => return Err(kafka("reading decisions")(e)),
            None => {}
        }
    }
    out.next_position = out.next_position.max(high);
    Ok(out)
}
