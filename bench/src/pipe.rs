//! The ceiling: a bare rdkafka consume→produce identity pipe with the same transactional protocol as the
//! worker (records, consumed offsets, commit every interval) but no decoding, state or scoring.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use sluice_worker::kafka::send_with_backpressure;
use sluice_worker::worker::output_gate::OutputGate;

use sluice_testbed::TestBedError;

const TXN_TIMEOUT: Duration = Duration::from_secs(60);

/// What the pipe copies and how it commits.
#[derive(Debug, Clone)]
pub struct PipeConfig {
    pub bootstrap: String,
    pub inputs: Vec<String>,
    pub output: String,
    pub partitions: i32,
    pub group: String,
    pub transactional_id: String,
    pub commit_interval: Duration,
    pub commit_max_records: u64,
}

fn err(action: &str) -> impl FnOnce(KafkaError) -> TestBedError + '_ {
    move |e| TestBedError::Env(format!("pipe: {action}: {e}"))
}

/// Copies records until `stop` is set, committing transactionally. Returns the records copied.
pub fn run_pipe(cfg: &PipeConfig, stop: Arc<AtomicBool>) -> Result<u64, TestBedError> {
    let consumer = consumer(cfg)?;
    let producer = producer(cfg)?;
    producer
        .init_transactions(TXN_TIMEOUT)
        .map_err(err("init_transactions"))?;
    assign_from_beginning(&consumer, cfg)?;
    let mut next: NextOffsets = Default::default();
    producer.begin_transaction().map_err(err("begin"))?;
    let (mut copied, mut in_txn) = (0u64, 0u64);
    let mut started = Instant::now();
    let mut gate: OutputGate<OwnedMessage> = OutputGate::default();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        // The worker's output gate: after a commit, hold records for a moment so the next transaction's
        // partition registration does not hit CONCURRENT_TRANSACTIONS (a fixed 20 ms retry).
        let gate_open = gate.is_open();
        if gate_open {
            gate.release(|h| send_copy(&producer, &cfg.output, h))?;
        }
        let timeout = gate
            .wait_bound()
            .unwrap_or(Duration::from_millis(if in_txn == 0 { 50 } else { 5 }));
        if let Some(res) = consumer.poll(timeout) {
            let m = res.map_err(err("consume"))?;
            if gate_open {
                send_copy(&producer, &cfg.output, &m)?;
            } else {
                gate.hold(m.detach());
            }
            next.insert((m.topic().to_string(), m.partition()), m.offset() + 1);
            if in_txn == 0 {
                started = Instant::now();
            }
            in_txn += 1;
            copied += 1;
        }
        if in_txn > 0
            && (stopping
                || started.elapsed() >= cfg.commit_interval
                || in_txn >= cfg.commit_max_records)
        {
            gate.release(|h| send_copy(&producer, &cfg.output, h))?;
            commit(&consumer, &producer, &next)?;
            gate.close();
            in_txn = 0;
        }
        if stopping && in_txn == 0 {
            return Ok(copied);
        }
    }
}

/// Next offset to consume per (input topic, partition): the offsets each commit sends.
type NextOffsets = std::collections::BTreeMap<(String, i32), i64>;

fn consumer(cfg: &PipeConfig) -> Result<BaseConsumer, TestBedError> {
    ClientConfig::new()
        .set("bootstrap.servers", &cfg.bootstrap)
        .set("group.id", &cfg.group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "5")
        .create()
        .map_err(err("consumer"))
}

fn producer(cfg: &PipeConfig) -> Result<ThreadedProducer<DefaultProducerContext>, TestBedError> {
    ClientConfig::new()
        .set("bootstrap.servers", &cfg.bootstrap)
        .set("transactional.id", &cfg.transactional_id)
        .set("transaction.timeout.ms", "900000")
        .set("linger.ms", "2")
        .set("retry.backoff.ms", "20")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .set("batch.num.messages", "10000")
        .create()
        .map_err(err("producer"))
}

/// Assigns every partition of every input topic, from the beginning.
fn assign_from_beginning(consumer: &BaseConsumer, cfg: &PipeConfig) -> Result<(), TestBedError> {
    let mut tpl = TopicPartitionList::new();
    for t in &cfg.inputs {
        for p in 0..cfg.partitions {
            tpl.add_partition_offset(t, p, Offset::Beginning)
                .map_err(err("assignment"))?;
        }
    }
    consumer.assign(&tpl).map_err(err("assign"))
}

/// Adds the consumed offsets to the open transaction, commits it and begins the next.
fn commit(
    consumer: &BaseConsumer,
    producer: &ThreadedProducer<DefaultProducerContext>,
    next: &NextOffsets,
) -> Result<(), TestBedError> {
    let mut offsets = TopicPartitionList::new();
    for ((t, p), o) in next {
        offsets
            .add_partition_offset(t, *p, Offset::Offset(*o))
            .map_err(err("offsets"))?;
    }
    let group = consumer
        .group_metadata()
        .ok_or_else(|| TestBedError::Env("pipe: no group metadata".into()))?;
    producer
        .send_offsets_to_transaction(&offsets, &group, TXN_TIMEOUT)
        .map_err(err("send_offsets"))?;
    // The worker's commit path (no 100 ms flush poll), so the ceiling is measured with it too.
    sluice_worker::kafka::txn_commit::commit_transaction(producer, TXN_TIMEOUT)
        .map_err(err("commit"))?;
    producer.begin_transaction().map_err(err("begin"))
}

/// Copies one consumed record (partition, key, payload, timestamp) to `output`.
fn send_copy(
    producer: &ThreadedProducer<DefaultProducerContext>,
    output: &str,
    m: &impl Message,
) -> Result<(), TestBedError> {
    let mut rec = BaseRecord::<[u8], [u8]>::to(output)
        .partition(m.partition())
        .payload(m.payload().unwrap_or_default());
    if let Some(k) = m.key() {
        rec = rec.key(k);
    }
    if let Some(ts) = m.timestamp().to_millis() {
        rec = rec.timestamp(ts);
    }
    send_with_backpressure(producer, rec).map_err(err("produce"))
}
