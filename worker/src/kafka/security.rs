//! `job.kafka.security` into librdkafka properties, with the TLS files found in `SLUICE_KAFKA_TLS_DIR` and
//! the SASL credentials read from their files (see `sluice_api::kafka_security`). Runs after the job was
//! validated, so the properties it adds never meet the rule against owned properties; the file locations it
//! sets are then watched for rotation like any other (`credential_rotation.rs`).

use std::path::Path;

use sluice_api::ConfigError;
use sluice_api::job_config::KafkaConfig;
use sluice_api::kafka_security::{TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE, TlsFiles};

/// The TLS files present in `dir`. A certificate without its key (or the reverse) is an error: the
/// Secret is incomplete, and connecting without the certificate would fail later with a vaguer message.
pub fn tls_files(dir: &Path) -> Result<TlsFiles, ConfigError> {
    let found = |name: &str| {
        let p = dir.join(name);
        p.is_file().then(|| p.display().to_string())
    };
    let client = match (found(TLS_CERT_FILE), found(TLS_KEY_FILE)) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(ConfigError {
                field: "kafka.security",
                problem: format!(
                    "{} holds only one of {TLS_CERT_FILE} and {TLS_KEY_FILE}",
                    dir.display()
                ),
                fix: "put both the client certificate and its unencrypted key in spec.kafkaAuth.tlsSecret, or neither".into(),
            });
        }
    };
    Ok(TlsFiles {
        ca: found(TLS_CA_FILE),
        client,
    })
}

/// Adds the properties of `kafka.security` (when set). `tls_dir`: `SLUICE_KAFKA_TLS_DIR`; `has_sasl`: the
/// SASL credential files were given.
pub fn apply(
    kafka: &mut KafkaConfig,
    tls_dir: Option<&Path>,
    has_sasl: bool,
) -> Result<(), ConfigError> {
    let Some(security) = kafka.security else {
        return Ok(());
    };
    if security.protocol.uses_sasl() && !has_sasl {
        return Err(ConfigError {
            field: "kafka.security.protocol",
            problem: format!(
                "{} needs SASL credentials and none were given",
                security.protocol.as_str()
            ),
            fix: "set spec.kafkaAuth.saslSecret (keys username and password); outside Kubernetes, SLUICE_KAFKA_SASL_USERNAME_FILE and SLUICE_KAFKA_SASL_PASSWORD_FILE".into(),
        });
    }
    let tls = match tls_dir {
        Some(dir) if security.protocol.uses_tls() => tls_files(dir)?,
        _ => TlsFiles::default(),
    };
    kafka.properties.extend(security.client_properties(&tls));
    Ok(())
}

#[cfg(test)]
mod tests {
    use sluice_api::kafka_security::{KafkaSecurity, SaslMechanism, SecurityProtocol};

    use super::*;

    fn kafka(protocol: SecurityProtocol, m: Option<SaslMechanism>) -> KafkaConfig {
        KafkaConfig {
            bootstrap_servers: "b:9093".into(),
            security: Some(KafkaSecurity {
                protocol,
                sasl_mechanism: m,
            }),
            properties: Default::default(),
        }
    }

    #[test]
    fn sasl_without_credentials_names_the_secret_to_set() {
        let mut k = kafka(SecurityProtocol::SaslSsl, Some(SaslMechanism::ScramSha512));
        let err = apply(&mut k, None, false).unwrap_err();
        assert_eq!(err.field, "kafka.security.protocol");
        assert!(err.fix.contains("spec.kafkaAuth.saslSecret"), "{err}");
        apply(&mut k, None, true).unwrap();
        assert_eq!(k.properties["security.protocol"], "SASL_SSL");
        assert_eq!(k.properties["sasl.mechanism"], "SCRAM-SHA-512");
    }

    #[test]
    fn the_tls_directory_gives_the_ca_and_a_whole_client_certificate_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TLS_CA_FILE), "ca").unwrap();
        let mut k = kafka(SecurityProtocol::Ssl, None);
        apply(&mut k, Some(dir.path()), false).unwrap();
        assert!(k.properties["ssl.ca.location"].ends_with("ca.crt"));
        assert!(!k.properties.contains_key("ssl.certificate.location"));
        std::fs::write(dir.path().join(TLS_CERT_FILE), "cert").unwrap();
        let err = tls_files(dir.path()).unwrap_err();
        assert!(err.problem.contains("only one of"), "{err}");
        std::fs::write(dir.path().join(TLS_KEY_FILE), "key").unwrap();
        let mut k = kafka(SecurityProtocol::Ssl, None);
        apply(&mut k, Some(dir.path()), false).unwrap();
        assert!(k.properties["ssl.key.location"].ends_with("tls.key"));
        let mut none = kafka(SecurityProtocol::SaslPlaintext, Some(SaslMechanism::Plain));
        apply(&mut none, Some(dir.path()), true).unwrap();
        assert!(!none.properties.contains_key("ssl.ca.location"));
        let mut untyped = KafkaConfig {
            security: None,
            ..kafka(SecurityProtocol::Ssl, None)
        };
        apply(&mut untyped, Some(dir.path()), true).unwrap();
        assert!(
            untyped.properties.is_empty(),
            "nothing without kafka.security"
        );
    }
}
