//! How the end-to-end jobs reach Kafka by default: the broker's SASL_SSL listener, SCRAM-SHA-512 over TLS
//! with the test bed's CA, the way the reference asks every production connection to be made. Every broker
//! the test bed starts has that listener (`services/kafka.rs`); `sluice-testbed serve` announces the shared
//! one's with [`ENV_KAFKA_SASL_SSL`] and [`ENV_KAFKA_CA`].
//!
//! A worker gets it as the operator hands it over: the typed `kafka.security`, the CA in a directory laid out
//! like the mounted `spec.kafkaAuth.tlsSecret` (`SLUICE_KAFKA_TLS_DIR`), and the SCRAM user and password in
//! files like the mounted `spec.kafkaAuth.saslSecret`. Nothing secret goes into the worker's config file.

use std::path::{Path, PathBuf};

use sluice_crds::job_config::KafkaConfig;
use sluice_crds::kafka_security::{KafkaSecurity, SaslMechanism, SecurityProtocol};

use crate::TestBedError;
use crate::services::kafka::{SASL_PASSWORD, SASL_USER};

/// Environment variable naming the shared broker's SASL_SSL listener (`host:port`).
pub const ENV_KAFKA_SASL_SSL: &str = "SLUICE_KAFKA_SASL_SSL_BOOTSTRAP";
/// Environment variable naming the PEM file of the CA that signed the shared broker's certificate.
pub const ENV_KAFKA_CA: &str = "SLUICE_KAFKA_CA_FILE";

/// A broker's SASL_SSL listener and the CA its certificate chains to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuredKafka {
    pub bootstrap: String,
    pub ca_cert: PathBuf,
}

/// What a worker needs to connect through a [`SecuredKafka`]: its `job.kafka` and its environment.
#[derive(Debug, Clone)]
pub struct WorkerKafkaAccess {
    pub kafka: KafkaConfig,
    pub env: Vec<(String, String)>,
}

impl SecuredKafka {
    /// The shared broker's secured listener, from `serve`'s environment; `None` when no shared broker is
    /// announced. A shared broker announced without it is an error: the suite must not fall back to plaintext
    /// without saying so.
    pub fn from_env() -> Result<Option<SecuredKafka>, TestBedError> {
        let plaintext = std::env::var_os(crate::testbed::ENV_KAFKA);
        let bootstrap = std::env::var(ENV_KAFKA_SASL_SSL).ok();
        let ca = std::env::var_os(ENV_KAFKA_CA);
        match (plaintext, bootstrap, ca) {
            (None, None, None) => Ok(None),
            (_, Some(bootstrap), Some(ca)) => Ok(Some(SecuredKafka {
                bootstrap,
                ca_cert: PathBuf::from(ca),
            })),
            _ => Err(TestBedError::Env(format!(
                "the shared broker is announced without its secured listener: set {ENV_KAFKA_SASL_SSL} and \
                 {ENV_KAFKA_CA} as `sluice-testbed serve` writes them"
            ))),
        }
    }

    /// The worker side of this listener, with the credential files and the TLS directory made under `dir`.
    pub fn worker_access(&self, dir: &Path) -> Result<WorkerKafkaAccess, TestBedError> {
        let tls_dir = dir.join("kafka-tls");
        std::fs::create_dir_all(&tls_dir)
            .map_err(TestBedError::io(format!("creating {}", tls_dir.display())))?;
        std::fs::copy(&self.ca_cert, tls_dir.join("ca.crt")).map_err(TestBedError::io(format!(
            "copying {}",
            self.ca_cert.display()
        )))?;
        let user = dir.join("kafka-sasl-username");
        let password = dir.join("kafka-sasl-password");
        std::fs::write(&user, SASL_USER).map_err(TestBedError::io("writing the SASL username"))?;
        std::fs::write(&password, SASL_PASSWORD)
            .map_err(TestBedError::io("writing the SASL password"))?;
        let path = |p: &Path| p.display().to_string();
        Ok(WorkerKafkaAccess {
            kafka: KafkaConfig {
                bootstrap_servers: self.bootstrap.clone(),
                security: Some(KafkaSecurity {
                    protocol: SecurityProtocol::SaslSsl,
                    sasl_mechanism: Some(SaslMechanism::ScramSha512),
                }),
                properties: Default::default(),
            },
            env: vec![
                ("SLUICE_KAFKA_TLS_DIR".into(), path(&tls_dir)),
                ("SLUICE_KAFKA_SASL_USERNAME_FILE".into(), path(&user)),
                ("SLUICE_KAFKA_SASL_PASSWORD_FILE".into(), path(&password)),
            ],
        })
    }
}
