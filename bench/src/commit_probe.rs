//! `sluice-bench commit-probe`: what one Kafka transaction costs on this broker, step by step, and how that
//! depends on the gap between a commit and the next transaction's first record.
//!
//! Each transaction: begin, send `records` records spread over the topic's partitions and wait for their
//! acknowledgements (this includes librdkafka registering the partitions with the coordinator), add consumed
//! offsets, commit. With no gap the registration meets the coordinator still finishing the previous commit
//! (CONCURRENT_TRANSACTIONS, retried after a fixed 20 ms); the worker's output gate exists because of it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;
use sluice_worker::kafka::txn_commit;

use super::stats::{Percentiles, percentiles};
use sluice_testbed::kafka_admin::create_topics;
use sluice_testbed::{TestBed, TestBedError, unique_name};

const TIMEOUT: Duration = Duration::from_secs(30);
const PARTITIONS: i32 = 4;

#[derive(Args, Clone)]
pub struct CommitProbeArgs {
    /// Transactions per gap.
    #[arg(long, default_value_t = 200)]
    pub transactions: u32,
    /// Records per transaction.
    #[arg(long, default_value_t = 400)]
    pub records: u32,
    /// Gaps between a commit and the next transaction's first record, in milliseconds.
    #[arg(long, value_delimiter = ',', default_value = "0,2,3,5,8")]
    pub gaps_ms: Vec<u64>,
    /// Commit with rust-rdkafka's `commit_transaction` alone (its flush polls for 100 ms) instead of
    /// waiting for the acknowledgements first as the worker does; "produce" then excludes the acks.
    #[arg(long)]
    pub library_commit: bool,
    /// Result file (JSON).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The step times of one gap setting.
#[derive(Debug, Serialize)]
pub struct GapResult {
    pub gap_ms: u64,
    /// begin + send + every acknowledgement (includes partition registration).
    pub produce: Percentiles,
    pub send_offsets: Percentiles,
    pub commit: Percentiles,
    pub transaction: Percentiles,
}

fn kafka(action: &'static str) -> impl FnOnce(KafkaError) -> TestBedError {
    move |e| TestBedError::Env(format!("commit probe: {action}: {e}"))
}

pub fn run_commit_probe(args: CommitProbeArgs) -> Result<(), TestBedError> {
    let bed = TestBed::with_kafka()?;
    let bootstrap = bed.kafka_bootstrap().to_string();
    let topic = unique_name("commit-probe");
    create_topics(&bootstrap, &[topic.as_str()], PARTITIONS)?;
    let mut results = Vec::new();
    for &gap in &args.gaps_ms {
        results.push(probe_gap(&bootstrap, &topic, &args, gap)?);
    }
    println!(
        "| gap ms | produce+acks p50 / p99 | send_offsets p50 / p99 | commit p50 / p99 | transaction p50 / p99 |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for r in &results {
        let pair = |p: &Percentiles| format!("{:.1} / {:.1}", p.p50_ms, p.p99_ms);
        println!(
            "| {} | {} | {} | {} | {} |",
            r.gap_ms,
            pair(&r.produce),
            pair(&r.send_offsets),
            pair(&r.commit),
            pair(&r.transaction)
        );
    }
    if let Some(out) = &args.out {
        let report = serde_json::json!({
            "provenance": sluice_testbed::provenance::Provenance::of_this_run(),
            "machine": super::setup::machine(),
            "gaps": results,
        });
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| TestBedError::Env(format!("commit probe: encoding results: {e}")))?;
        std::fs::write(out, json)
            .map_err(|e| TestBedError::Env(format!("writing {}: {e}", out.display())))?;
    }
    Ok(())
}

fn probe_gap(
    bootstrap: &str,
    topic: &str,
    args: &CommitProbeArgs,
    gap_ms: u64,
) -> Result<GapResult, TestBedError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("commit-probe"))
        .create()
        .map_err(kafka("consumer"))?;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", unique_name("commit-probe"))
        .set("linger.ms", "2")
        .create()
        .map_err(kafka("producer"))?;
    producer
        .init_transactions(TIMEOUT)
        .map_err(kafka("init_transactions"))?;
    let group = consumer
        .group_metadata()
        .ok_or_else(|| TestBedError::Env("commit probe: no group metadata".into()))?;
    let (mut produce, mut offsets, mut commit, mut total) = (vec![], vec![], vec![], vec![]);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for i in 0..args.transactions {
        let t0 = Instant::now();
        producer.begin_transaction().map_err(kafka("begin"))?;
        for n in 0..args.records {
            let partition = (n % PARTITIONS as u32) as i32;
            producer
                .send(
                    BaseRecord::<[u8], [u8]>::to(topic)
                        .partition(partition)
                        .payload(b"x"),
                )
                .map_err(|(e, _)| kafka("send")(e))?;
        }
        if !args.library_commit {
            txn_commit::wait_for_acks(&producer, Instant::now() + TIMEOUT)
                .map_err(kafka("acks"))?;
        }
        let t1 = Instant::now();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(i64::from(i)))
            .map_err(kafka("offsets"))?;
        producer
            .send_offsets_to_transaction(&tpl, &group, TIMEOUT)
            .map_err(kafka("send_offsets"))?;
        let t2 = Instant::now();
        if args.library_commit {
            producer
                .commit_transaction(TIMEOUT)
                .map_err(kafka("commit"))?;
        } else {
            txn_commit::commit_transaction(&producer, TIMEOUT).map_err(kafka("commit"))?;
        }
        let t3 = Instant::now();
        produce.push(ms(t1 - t0));
        offsets.push(ms(t2 - t1));
        commit.push(ms(t3 - t2));
        total.push(ms(t3 - t0));
        std::thread::sleep(Duration::from_millis(gap_ms));
    }
    Ok(GapResult {
        gap_ms,
        produce: percentiles(&mut produce),
        send_offsets: percentiles(&mut offsets),
        commit: percentiles(&mut commit),
        transaction: percentiles(&mut total),
    })
}
