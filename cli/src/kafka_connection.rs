//! How the CLI's Kafka clients (`produce`, `verify`) reach a cluster: `bootstrap.servers` plus the client
//! properties of a Kafka-style `--command-config` file — the file `kafka-topics.sh --command-config` and the
//! console clients take, so one file serves both. That is how the CLI speaks SASL_SSL, SCRAM or mutual TLS:
//!
//! ```text
//! security.protocol=SASL_SSL
//! sasl.mechanism=SCRAM-SHA-512
//! sasl.username=auditor
//! sasl.password=…
//! ssl.ca.location=/etc/kafka/ca.crt
//! ```
//!
//! The file may hold credentials, as it does for Kafka's own tools; they are never printed (`Debug` redacts
//! them). `bootstrap.servers` comes from `--bootstrap` only, so one file works against any listener of the
//! same security.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rdkafka::ClientConfig;

/// Why a `--command-config` file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CommandConfigError {
    #[error("--command-config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "--command-config {path}, line {line}: {reason}; write one `key=value` client property per line (`#` starts a comment)"
    )]
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// A cluster address and the client properties every connection to it needs.
#[derive(Clone, Default)]
pub struct KafkaConnection {
    pub bootstrap: String,
    pub properties: BTreeMap<String, String>,
}

impl std::fmt::Debug for KafkaConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConnection")
            .field("bootstrap", &self.bootstrap)
            .field(
                "properties",
                &sluice_api::secrets::redacted_properties(&self.properties),
            )
            .finish()
    }
}

impl KafkaConnection {
    /// A PLAINTEXT connection with no further properties.
    pub fn plain(bootstrap: &str) -> KafkaConnection {
        KafkaConnection {
            bootstrap: bootstrap.to_string(),
            properties: BTreeMap::new(),
        }
    }

    /// `bootstrap` with the properties of `command_config`, if given.
    pub fn new(
        bootstrap: &str,
        command_config: Option<&Path>,
    ) -> Result<KafkaConnection, CommandConfigError> {
        let properties = match command_config {
            Some(path) => read_command_config(path)?,
            None => BTreeMap::new(),
        };
        Ok(KafkaConnection {
            bootstrap: bootstrap.to_string(),
            properties,
        })
    }

    /// A client configuration with the address and every property; callers add their own settings.
    pub fn client_config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        for (k, v) in &self.properties {
            cfg.set(k, v);
        }
        cfg.set("bootstrap.servers", &self.bootstrap);
        cfg
    }
}

impl From<&str> for KafkaConnection {
    fn from(bootstrap: &str) -> KafkaConnection {
        KafkaConnection::plain(bootstrap)
    }
}

impl From<&String> for KafkaConnection {
    fn from(bootstrap: &String) -> KafkaConnection {
        KafkaConnection::plain(bootstrap)
    }
}

impl From<&KafkaConnection> for KafkaConnection {
    fn from(conn: &KafkaConnection) -> KafkaConnection {
        conn.clone()
    }
}

/// Reads a properties file: `key=value` (or `key: value`) per line, blank lines and lines starting with `#` or
/// `!` ignored, whitespace around keys and values trimmed. `bootstrap.servers` is refused: it would silently
/// lose to `--bootstrap`.
pub fn read_command_config(path: &Path) -> Result<BTreeMap<String, String>, CommandConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| CommandConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_properties(&text).map_err(|(line, reason)| CommandConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        reason,
    })
}

/// The properties of `text`, or the 1-based line number and what is wrong with it.
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>, (usize, String)> {
    let mut out = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some(at) = line.find(['=', ':']) else {
            return Err((i + 1, "no `=` between key and value".into()));
        };
        let (key, value) = (line[..at].trim(), line[at + 1..].trim());
        if key.is_empty() {
            return Err((i + 1, "the key is empty".into()));
        }
        if key == "bootstrap.servers" {
            return Err((
                i + 1,
                "bootstrap.servers belongs in --bootstrap (or SLUICE_KAFKA_BOOTSTRAP), not in the file".into(),
            ));
        }
        if out.insert(key.to_string(), value.to_string()).is_some() {
            return Err((i + 1, format!("{key} is set twice")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_kafka_style_properties() {
        let text = "# SCRAM over TLS\n\n  security.protocol = SASL_SSL\nsasl.mechanism:SCRAM-SHA-512\n\
                    ! another comment\nsasl.password=a=b:c\n";
        let p = parse_properties(text).unwrap();
        assert_eq!(p["security.protocol"], "SASL_SSL");
        assert_eq!(p["sasl.mechanism"], "SCRAM-SHA-512");
        assert_eq!(
            p["sasl.password"], "a=b:c",
            "only the first separator splits"
        );
        assert_eq!(p.len(), 3);
    }

    #[test]
    fn bad_lines_are_named_with_their_number() {
        assert_eq!(parse_properties("a=1\nnonsense\n").unwrap_err().0, 2);
        assert_eq!(parse_properties("=1").unwrap_err().0, 1);
        let dup = parse_properties("a=1\na=2").unwrap_err();
        assert_eq!(dup.0, 2);
        assert!(dup.1.contains("twice"), "{}", dup.1);
        let boot = parse_properties("bootstrap.servers=x:9092").unwrap_err();
        assert!(boot.1.contains("--bootstrap"), "{}", boot.1);
    }

    #[test]
    fn debug_never_shows_credentials() {
        let conn = KafkaConnection {
            bootstrap: "b:9093".into(),
            properties: parse_properties("sasl.password=hunter2\nsasl.username=ops").unwrap(),
        };
        let shown = format!("{conn:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("ops") && shown.contains("b:9093"), "{shown}");
    }

    #[test]
    fn the_address_wins_over_nothing_and_properties_pass_through() {
        let conn = KafkaConnection {
            bootstrap: "b:9093".into(),
            properties: parse_properties("security.protocol=SSL").unwrap(),
        };
        let cfg = conn.client_config();
        assert_eq!(cfg.get("bootstrap.servers"), Some("b:9093"));
        assert_eq!(cfg.get("security.protocol"), Some("SSL"));
    }
}
