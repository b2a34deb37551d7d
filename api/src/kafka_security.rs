//! `job.kafka.security`: how every Kafka client of the job encrypts and authenticates, as types rather than
//! free-form librdkafka properties.
//!
//! The job names only the protocol and the SASL mechanism. The material comes from files, never from the
//! job: on Kubernetes the operator mounts `spec.kafkaAuth.tlsSecret` (keys `ca.crt`, and for a client
//! certificate `tls.crt` and `tls.key`: the layout of a `kubernetes.io/tls` Secret or a cert-manager
//! Certificate) and announces the directory in `SLUICE_KAFKA_TLS_DIR`, and mounts `spec.kafkaAuth.saslSecret`
//! (keys `username`, `password`) announced in `SLUICE_KAFKA_SASL_USERNAME_FILE` / `…_PASSWORD_FILE`. Outside
//! Kubernetes the same variables point at any files. The worker turns the three into librdkafka properties
//! ([`KafkaSecurity::client_properties`]); the files are re-read when they change (credential rotation).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// librdkafka's `security.protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SecurityProtocol {
    /// No encryption, no authentication: only for a broker on the same host or a test bed.
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
    /// TLS; with a client certificate in the TLS directory, mutual TLS.
    #[serde(rename = "SSL")]
    Ssl,
    /// SASL without encryption: the credentials cross the network in clear (PLAIN) or hashed (SCRAM).
    #[serde(rename = "SASL_PLAINTEXT")]
    SaslPlaintext,
    /// SASL over TLS: what a production cluster should use.
    #[serde(rename = "SASL_SSL")]
    SaslSsl,
}

impl SecurityProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

/// librdkafka's `sasl.mechanism` (the ones that take a username and password).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// The protocol and mechanism every Kafka client of the job uses. Credentials and certificates are files
/// named by the worker's environment (see the module documentation), never values in the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KafkaSecurity {
    pub protocol: SecurityProtocol,
    /// Required with `SASL_SSL` and `SASL_PLAINTEXT`, refused with the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<SaslMechanism>,
}

/// librdkafka properties the typed settings own: setting them in `kafka.properties` as well is an error.
pub const OWNED_PROPERTIES: [&str; 6] = [
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
];

/// The TLS files found in the TLS directory (paths as strings, for librdkafka).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// `ca.crt`: the CA the broker's certificate must chain to. Absent: the system's trust store.
    pub ca: Option<String>,
    /// `tls.crt` and `tls.key`: the client certificate and its (unencrypted) key, for mutual TLS.
    pub client: Option<(String, String)>,
}

/// The file names inside the TLS directory.
pub const TLS_CA_FILE: &str = "ca.crt";
pub const TLS_CERT_FILE: &str = "tls.crt";
pub const TLS_KEY_FILE: &str = "tls.key";

/// Why the settings do not fit together; `field` is relative to `job`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityProblem {
    pub field: &'static str,
    pub problem: String,
    pub fix: String,
}

impl KafkaSecurity {
    /// Rules between the two fields and against the free-form properties.
    pub fn problems(&self, properties: &BTreeMap<String, String>) -> Vec<SecurityProblem> {
        let mut out = Vec::new();
        match (self.protocol.uses_sasl(), self.sasl_mechanism) {
            (true, None) => out.push(SecurityProblem {
                field: "kafka.security.saslMechanism",
                problem: format!("is required with protocol {}", self.protocol.as_str()),
                fix: "set PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, as the broker's listener expects"
                    .into(),
            }),
            (false, Some(m)) => out.push(SecurityProblem {
                field: "kafka.security.saslMechanism",
                problem: format!(
                    "{} has no meaning with protocol {}",
                    m.as_str(),
                    self.protocol.as_str()
                ),
                fix: "remove it, or use protocol SASL_SSL".into(),
            }),
            _ => {}
        }
        for key in properties.keys() {
            if OWNED_PROPERTIES.contains(&key.to_ascii_lowercase().as_str()) {
                out.push(SecurityProblem {
                    field: "kafka.properties",
                    problem: format!("{key:?} is set by kafka.security"),
                    fix: "remove it: the protocol and mechanism come from kafka.security, the file locations from the mounted Secrets (spec.kafkaAuth)".into(),
                });
            }
        }
        out
    }

    /// The librdkafka properties for these settings with the TLS files found. SASL credentials are added
    /// by the caller from their files.
    pub fn client_properties(&self, tls: &TlsFiles) -> BTreeMap<String, String> {
        let mut props = BTreeMap::new();
        props.insert("security.protocol".into(), self.protocol.as_str().into());
        if let Some(m) = self.sasl_mechanism {
            props.insert("sasl.mechanism".into(), m.as_str().into());
        }
        if self.protocol.uses_tls() {
            if let Some(ca) = &tls.ca {
                props.insert("ssl.ca.location".into(), ca.clone());
            }
            if let Some((cert, key)) = &tls.client {
                props.insert("ssl.certificate.location".into(), cert.clone());
                props.insert("ssl.key.location".into(), key.clone());
            }
        }
        props
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(protocol: SecurityProtocol, m: Option<SaslMechanism>) -> KafkaSecurity {
        KafkaSecurity {
            protocol,
            sasl_mechanism: m,
        }
    }

    #[test]
    fn the_yaml_names_are_librdkafkas() {
        let s: KafkaSecurity =
            serde_norway::from_str("protocol: SASL_SSL\nsaslMechanism: SCRAM-SHA-512\n").unwrap();
        assert_eq!(
            s,
            security(SecurityProtocol::SaslSsl, Some(SaslMechanism::ScramSha512))
        );
        assert!(serde_norway::from_str::<KafkaSecurity>("protocol: sasl_ssl\n").is_err());
        assert!(
            serde_norway::from_str::<KafkaSecurity>("protocol: SSL\npassword: x\n").is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn mechanism_goes_with_sasl_only_and_owned_properties_are_refused() {
        let none = BTreeMap::new();
        let sasl = security(SecurityProtocol::SaslSsl, None).problems(&none);
        assert_eq!(sasl.len(), 1);
        assert_eq!(sasl[0].field, "kafka.security.saslMechanism");
        let ssl = security(SecurityProtocol::Ssl, Some(SaslMechanism::Plain)).problems(&none);
        assert!(ssl[0].problem.contains("no meaning"), "{ssl:?}");
        let ok = security(SecurityProtocol::SaslSsl, Some(SaslMechanism::ScramSha256));
        assert!(ok.problems(&none).is_empty());
        let props = BTreeMap::from([
            ("Security.Protocol".to_string(), "PLAINTEXT".to_string()),
            ("fetch.wait.max.ms".to_string(), "5".to_string()),
        ]);
        let clash = ok.problems(&props);
        assert_eq!(clash.len(), 1, "{clash:?}");
        assert_eq!(clash[0].field, "kafka.properties");
    }

    #[test]
    fn properties_follow_the_protocol_and_the_files_found() {
        let tls = TlsFiles {
            ca: Some("/t/ca.crt".into()),
            client: Some(("/t/tls.crt".into(), "/t/tls.key".into())),
        };
        let mtls = security(SecurityProtocol::Ssl, None).client_properties(&tls);
        assert_eq!(mtls["security.protocol"], "SSL");
        assert_eq!(mtls["ssl.ca.location"], "/t/ca.crt");
        assert_eq!(mtls["ssl.key.location"], "/t/tls.key");
        assert!(!mtls.contains_key("sasl.mechanism"));
        let scram = security(SecurityProtocol::SaslSsl, Some(SaslMechanism::ScramSha512))
            .client_properties(&TlsFiles::default());
        assert_eq!(scram["sasl.mechanism"], "SCRAM-SHA-512");
        assert!(
            !scram.contains_key("ssl.ca.location"),
            "the system trust store"
        );
        let clear = security(SecurityProtocol::SaslPlaintext, Some(SaslMechanism::Plain))
            .client_properties(&tls);
        assert!(
            !clear.contains_key("ssl.ca.location"),
            "no TLS files without TLS"
        );
    }
}
