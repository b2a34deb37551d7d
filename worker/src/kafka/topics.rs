//! Topic checks at start-up: inputs co-partitioned, outputs present, progress log created.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use sluice_api::JobConfig;

use super::{KafkaOpError, kerr};

const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// One metadata request's wait: short, so that librdkafka's queued errors are served between attempts.
const METADATA_ATTEMPT: Duration = Duration::from_secs(2);

/// Why the topics do not fit the job.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error(transparent)]
    Kafka(#[from] KafkaOpError),
    #[error(
        "topic {topic:?} (topics.{field}) does not exist; create it first (auto-creation is off by design)"
    )]
    Missing { field: &'static str, topic: String },
    #[error(
        "input topics are not co-partitioned: {details}; all of topics.authorizations, topics.deviceTelemetry and topics.accountChanges must have the same partition count"
    )]
    NotCoPartitioned { details: String },
    #[error(
        "this worker is assigned partition {partition}, but the input topics have only {count} partitions"
    )]
    PartitionOutOfRange { partition: i32, count: usize },
    #[error(
        "the Kafka broker rejected this worker's credentials ({reason}); check the SASL username and password (the files named by SLUICE_KAFKA_SASL_USERNAME_FILE and SLUICE_KAFKA_SASL_PASSWORD_FILE, i.e. the StreamJob's Kafka credentials Secret) and sasl.mechanism"
    )]
    Authentication { reason: String },
    #[error(
        "the TLS handshake with the Kafka broker failed ({reason}); check ssl.ca.location (the CA that signed the broker's certificate), that bootstrap.servers names an address the certificate is valid for, and, where the listener requires client certificates, ssl.certificate.location and ssl.key.location"
    )]
    Tls { reason: String },
    #[error("creating the progress topic {topic:?}: {reason}")]
    ProgressTopic { topic: String, reason: String },
}

/// Partition counts of every job topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicLayout {
    /// Partitions of each input topic (all equal).
    pub input_partitions: usize,
    pub decisions: usize,
    pub alerts: usize,
    pub dlq: usize,
    pub late: usize,
}

/// Metadata of `topic`, retrying for up to [`METADATA_TIMEOUT`] while no broker can be reached: a broker that
/// is restarting must not fail the worker's start. Credentials the broker rejects, and a TLS handshake that
/// fails, fail at once instead: they will not get better by waiting, and the operator's restart backoff (or a
/// rotated Secret) is the remedy.
fn fetch_metadata_retrying(
    consumer: &BaseConsumer,
    topic: &str,
) -> Result<rdkafka::metadata::Metadata, TopicError> {
    let deadline = Instant::now() + METADATA_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.fetch_metadata(Some(topic), left.min(METADATA_ATTEMPT)) {
            Err(KafkaError::MetadataFetch(
                code @ (RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::OperationTimedOut),
            )) if left > METADATA_ATTEMPT => {
                tracing::warn!(
                    topic,
                    error = %code,
                    "no broker reachable yet; retrying (check bootstrap.servers, TLS and SASL settings)"
                );
                pause_serving_events(consumer, RETRY_PAUSE)?;
            }
            Err(e) => {
                return Err(refusal(&e)
                    .unwrap_or_else(|| kerr(format!("fetching metadata of {topic}"))(e).into()));
            }
            Ok(md) => return Ok(md),
        }
    }
}

/// Waits `pause` while serving the client's queue. librdkafka hands its log lines and errors to the
/// application only when the client is polled, and a metadata request does not poll: without this, the
/// broker's "authentication failed" would stay queued until the worker gave up for another reason.
fn pause_serving_events(consumer: &BaseConsumer, pause: Duration) -> Result<(), TopicError> {
    let until = Instant::now() + pause;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        // Nothing is assigned, so a poll yields only errors (logs are served inside it).
        if let Some(Err(e)) = consumer.poll(left) {
            match refusal(&e) {
                Some(refused) => return Err(refused),
                None => tracing::warn!(error = %e, "kafka client error while fetching metadata"),
            }
        }
    }
}

/// The error to stop with when the broker refused this client: rejected credentials or a failed TLS
/// handshake (an untrusted certificate on either side). Neither gets better by waiting.
fn refusal(e: &KafkaError) -> Option<TopicError> {
    let reason = e.to_string();
    match e.rdkafka_error_code()? {
        RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed => {
            Some(TopicError::Authentication { reason })
        }
        RDKafkaErrorCode::SSL => Some(TopicError::Tls { reason }),
        _ => None,
    }
}

fn partition_count(
    consumer: &BaseConsumer,
    field: &'static str,
    topic: &str,
) -> Result<usize, TopicError> {
    let md = fetch_metadata_retrying(consumer, topic)?;
    let count = md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len());
    if count == 0 {
        return Err(TopicError::Missing {
            field,
            topic: topic.to_string(),
        });
    }
    Ok(count)
}

/// Checks the inputs are co-partitioned and cover `owned`, and every output exists.
pub fn check_layout(
    consumer: &BaseConsumer,
    job: &JobConfig,
    owned: &[i32],
) -> Result<TopicLayout, TopicError> {
    let t = &job.topics;
    let inputs = [
        ("authorizations", &t.authorizations),
        ("deviceTelemetry", &t.device_telemetry),
        ("accountChanges", &t.account_changes),
    ];
    let mut counts = Vec::new();
    for (field, topic) in inputs {
        counts.push((topic.as_str(), partition_count(consumer, field, topic)?));
    }
    let first = counts.first().map_or(0, |c| c.1);
    if counts.iter().any(|c| c.1 != first) {
        let details = counts
            .iter()
            .map(|(t, n)| format!("{t}={n}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(TopicError::NotCoPartitioned { details });
    }
    if let Some(&p) = owned
        .iter()
        .find(|&&p| p < 0 || usize::try_from(p).unwrap_or(usize::MAX) >= first)
    {
        return Err(TopicError::PartitionOutOfRange {
            partition: p,
            count: first,
        });
    }
    Ok(TopicLayout {
        input_partitions: first,
        decisions: partition_count(consumer, "decisions", &t.decisions)?,
        alerts: partition_count(consumer, "alerts", &t.alerts)?,
        dlq: partition_count(consumer, "dlq", &t.dlq)?,
        late: partition_count(consumer, "late", &t.late)?,
    })
}

/// Creates the progress topic (one partition per input partition, never deleted by retention) if missing.
pub async fn ensure_progress_topic(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: usize,
) -> Result<(), TopicError> {
    let n = i32::try_from(partitions).unwrap_or(i32::MAX);
    let new = NewTopic::new(topic, n, TopicReplication::Fixed(-1))
        .set("retention.ms", "-1")
        .set("cleanup.policy", "delete");
    let results = admin
        .create_topics(
            &[new],
            &AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT)),
        )
        .await
        .map_err(kerr(format!("creating {topic}")))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(TopicError::ProgressTopic {
                    topic: topic.to_string(),
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(())
}
