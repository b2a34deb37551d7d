//! Kafka plumbing for the worker: client configuration, topic checks, the progress log.

pub mod clients;
pub mod progress_log;
pub mod topics;

/// A Kafka operation that failed, with what we were doing.
#[derive(Debug, thiserror::Error)]
#[error("kafka: {action}: {source}")]
pub struct KafkaOpError {
    pub action: String,
    #[source]
    pub source: rdkafka::error::KafkaError,
}

/// `map_err` helper: `.map_err(kerr("committing the transaction"))`.
pub fn kerr(action: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> KafkaOpError {
    let action = action.into();
    move |source| KafkaOpError { action, source }
}
