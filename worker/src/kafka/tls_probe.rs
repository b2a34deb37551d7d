//! A first connection that tells a refused TLS handshake apart from a broker that is not there yet. When the
//! broker rejects this client's certificate (or it sent none), librdkafka reports a plain transport failure;
//! the alert text ("bad certificate", "certificate required") reaches only its error callback. The worker's
//! own consumer uses the default callback, so this probe connects once with the same settings and its own
//! context, and stops the start with an error that names the TLS settings instead of retrying for 30 s and
//! then blaming the network.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;

use super::topics::TopicError;

/// How long the probe tries before it leaves an unreachable broker to the normal start-up retries.
const PROBE_TIME: Duration = Duration::from_secs(10);
const ATTEMPT: Duration = Duration::from_secs(2);

/// Remembers the last error librdkafka reported whose text says TLS refused the connection.
#[derive(Default)]
struct TlsWatch {
    refused: Mutex<Option<String>>,
}

impl ClientContext for TlsWatch {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!("librdkafka: {error}: {reason}");
        if is_tls_refusal(reason)
            && let Ok(mut slot) = self.refused.lock()
        {
            *slot = Some(reason.to_string());
        }
    }
}

impl ConsumerContext for TlsWatch {}

/// Whether librdkafka's error text is a TLS handshake failure or alert, not a network one.
fn is_tls_refusal(reason: &str) -> bool {
    ["SSL routines", "SSL handshake failed", "certificate"]
        .iter()
        .any(|marker| reason.contains(marker))
}

/// With `security.protocol` SSL or SASL_SSL in `config`: fetches `topic`'s metadata once, and fails with
/// [`TopicError::Tls`] when TLS refused the connection. Anything else (an unreachable broker, a missing
/// topic) is left to the checks that follow.
pub fn probe_tls(config: &ClientConfig, topic: &str) -> Result<(), TopicError> {
    let protocol = config
        .get("security.protocol")
        .unwrap_or_default()
        .to_ascii_uppercase();
    if protocol != "SSL" && protocol != "SASL_SSL" {
        return Ok(());
    }
    let Ok(probe) = config.create_with_context::<_, BaseConsumer<TlsWatch>>(TlsWatch::default())
    else {
        // The worker's own consumer is created from the same settings and reports why it cannot be.
        return Ok(());
    };
    let deadline = Instant::now() + PROBE_TIME;
    while Instant::now() < deadline {
        if probe.fetch_metadata(Some(topic), ATTEMPT).is_ok() {
            return Ok(());
        }
        // Serves the queued error events, i.e. the error callback above.
        let _ = probe.poll(Duration::from_millis(200));
        let refused = probe.context().refused.lock().ok().and_then(|s| s.clone());
        if let Some(reason) = refused {
            return Err(TopicError::Tls { reason });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_tls_refusal;

    #[test]
    fn tells_tls_refusals_from_network_failures() {
        for tls in [
            "ssl://10.0.0.1:9093/bootstrap: Receive failed: error:0A000412:SSL routines::sslv3 alert bad certificate: SSL alert number 42",
            "ssl://b:9093/1: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed",
        ] {
            assert!(is_tls_refusal(tls), "{tls}");
        }
        for other in [
            "ssl://b:9093/bootstrap: Connect to ipv4#10.0.0.1:9093 failed: Connection refused",
            "sasl_ssl://b:9094/bootstrap: Disconnected (after 12ms in state UP)",
        ] {
            assert!(!is_tls_refusal(other), "{other}");
        }
    }
}
