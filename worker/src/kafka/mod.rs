//! Kafka plumbing for the worker: client configuration, topic checks, the progress log.

pub mod cached_watermark;
pub mod clients;
pub mod credential_rotation;
pub mod progress_log;
pub mod security;
pub mod tls_probe;
pub mod topics;
pub mod txn_commit;

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

/// Sends, waiting while librdkafka's queue is full (backpressure), failing on any other error.
pub fn send_with_backpressure<C: rdkafka::producer::ProducerContext + 'static>(
    producer: &rdkafka::producer::ThreadedProducer<C>,
    mut record: rdkafka::producer::BaseRecord<'_, [u8], [u8], C::DeliveryOpaque>,
) -> Result<(), rdkafka::error::KafkaError> {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// Client context for consumers that read with `enable.partition.eof`: reaching the end of a partition is how
/// they learn they are caught up, so librdkafka's "Global error: PartitionEOF" report is expected, not an
/// error worth an ERROR log line. Every other client error is logged as a warning (librdkafka retries them).
#[derive(Clone, Copy, Debug, Default)]
pub struct EofAwareContext;

impl rdkafka::client::ClientContext for EofAwareContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::error::{KafkaError, RDKafkaErrorCode};
        if matches!(
            error,
            KafkaError::Global(RDKafkaErrorCode::PartitionEOF) | KafkaError::PartitionEOF(_)
        ) {
            return;
        }
        tracing::warn!("librdkafka: {error}: {reason}");
    }
}

impl rdkafka::consumer::ConsumerContext for EofAwareContext {}

/// A consumer using [`EofAwareContext`].
pub type EofConsumer = rdkafka::consumer::BaseConsumer<EofAwareContext>;
