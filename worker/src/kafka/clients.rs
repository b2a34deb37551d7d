//! librdkafka client settings for the worker's consumer and transactional producer.

use rdkafka::ClientConfig;
use sluice_api::JobConfig;
use sluice_api::job_config::{KafkaConfig, TopicsConfig};
use sluice_api::kafka_security::TlsFiles;
use sluice_core::event::SourceTopic;

fn base(kafka: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &kafka.bootstrap_servers);
    // The protocol and mechanism of `kafka.security`; the worker has added its file locations to the
    // properties already (`security.rs`), a CLI command takes them from its --command-config.
    if let Some(security) = kafka.security {
        for (k, v) in security.client_properties(&TlsFiles::default()) {
            c.set(k, v);
        }
    }
    for (k, v) in &kafka.properties {
        c.set(k, v);
    }
    c
}

/// The consumer: manual assignment, no auto-commit (offsets are committed inside transactions), and
/// read_committed so inputs written transactionally by upstream jobs are never seen before they commit.
/// `fetch.wait.max.ms` is low because visibility latency is the product.
pub fn consumer_config(kafka: &KafkaConfig, group_id: &str) -> ClientConfig {
    let mut c = base(kafka);
    c.set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "5")
        .set("fetch.min.bytes", "1");
    c
}

/// The transactional producer. `retry.backoff.ms` is lowered from librdkafka's 100 ms because a transaction
/// begun right after a commit is retried after that backoff (CONCURRENT_TRANSACTIONS); the Java client uses
/// 20 ms. Idempotence and acks=all come with `transactional.id`.
pub fn producer_config(
    kafka: &KafkaConfig,
    job: &JobConfig,
    transactional_id: &str,
) -> ClientConfig {
    let mut c = base(kafka);
    c.set("transactional.id", transactional_id)
        .set(
            "transaction.timeout.ms",
            job.transaction_timeout.as_millis().to_string(),
        )
        .set("linger.ms", "2")
        .set("retry.backoff.ms", "20")
        .set("retry.backoff.max.ms", "200")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .set("batch.num.messages", "10000");
    c
}

/// The consumer group whose committed offsets are the job's frontier.
pub fn group_id(job: &JobConfig) -> String {
    job.transactional_id_prefix.clone()
}

/// `<prefix>-<worker identity>`.
pub fn transactional_id(job: &JobConfig, worker_identity: &str) -> String {
    format!("{}-{worker_identity}", job.transactional_id_prefix)
}

/// The internal topic holding one progress record per partition per transaction.
pub fn progress_topic(job: &JobConfig) -> String {
    format!("{}.progress", job.transactional_id_prefix)
}

/// The configured name of an input topic.
pub fn input_topic(topics: &TopicsConfig, t: SourceTopic) -> &str {
    match t {
        SourceTopic::Authorizations => &topics.authorizations,
        SourceTopic::DeviceTelemetry => &topics.device_telemetry,
        SourceTopic::AccountChanges => &topics.account_changes,
    }
}

/// The three input topic names, indexed like [`SourceTopic::index`].
pub fn input_topics(topics: &TopicsConfig) -> [&str; 3] {
    SourceTopic::ALL.map(|t| input_topic(topics, t))
}
