//! The Kafka test bed works for real: a transactional producer aborts one transaction and commits another,
//! and a read_committed consumer sees exactly the committed records.

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};
use sluice_testbed::{TestBed, unique_name};

const TIMEOUT: Duration = Duration::from_secs(30);

async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .unwrap();
    for r in results {
        r.unwrap();
    }
}

fn read_all(bootstrap: &str, topic: &str, isolation: &str, expect_at_least: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("smoke-reader"))
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    // Read until the expected count arrives, then a little longer to catch anything that should not be there.
    let mut quiet_polls = 0;
    while std::time::Instant::now() < deadline && quiet_polls < 10 {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                seen.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap());
                quiet_polls = 0;
            }
            Some(Err(e)) => panic!("consume error: {e}"),
            None if seen.len() >= expect_at_least => quiet_polls += 1,
            None => {}
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_sees_only_committed_transactions() {
    let bed = TestBed::with_kafka().unwrap();
    let bootstrap = bed.kafka_bootstrap().to_string();
    let topic = unique_name("smoke-txn");
    create_topic(&bootstrap, &topic, 1).await;

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("transactional.id", unique_name("smoke-txid"))
        .set("transaction.timeout.ms", "60000")
        .create()
        .unwrap();
    producer.init_transactions(TIMEOUT).unwrap();

    producer.begin_transaction().unwrap();
    for i in 0..3 {
        let payload = format!("aborted-{i}");
        producer
            .send(BaseRecord::<(), _>::to(&topic).payload(&payload))
            .unwrap();
    }
    producer.flush(TIMEOUT).unwrap();
    producer.abort_transaction(TIMEOUT).unwrap();

    producer.begin_transaction().unwrap();
    for i in 0..3 {
        let payload = format!("committed-{i}");
        producer
            .send(BaseRecord::<(), _>::to(&topic).payload(&payload))
            .unwrap();
    }
    producer.commit_transaction(TIMEOUT).unwrap();

    let committed = read_all(&bootstrap, &topic, "read_committed", 3);
    assert_eq!(committed, vec!["committed-0", "committed-1", "committed-2"]);

    // The aborted records really were written: a read_uncommitted reader sees all six.
    let uncommitted = read_all(&bootstrap, &topic, "read_uncommitted", 6);
    assert_eq!(uncommitted.len(), 6, "{uncommitted:?}");
    assert!(uncommitted.iter().any(|s| s.starts_with("aborted-")));
}
