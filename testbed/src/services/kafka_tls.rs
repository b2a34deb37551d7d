//! The TLS material of the test broker's secured listeners, generated with `rcgen` each time a broker's data
//! directory is formatted: a CA, the broker's serving certificate (valid for its listener address, 127.0.0.1
//! and localhost, so librdkafka's hostname verification stays on), a client certificate for the mutual-TLS
//! listener, and a second, untrusted CA with a client certificate of its own (what an impostor would present).
//! ECDSA P-256 keys as unencrypted PKCS#8: Kafka's PEM key store and OpenSSL both read them. Nothing here leaves
//! the broker's directory.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyUsagePurpose};

use super::kube::certs::{client_params, dn, pki_error, self_signed_ca, signed_pair};
use crate::TestBedError;

/// The PEM files of one broker's TLS set-up.
#[derive(Debug, Clone)]
pub struct KafkaTlsFiles {
    /// The CA that signed the broker's and the client's certificates (clients' `ssl.ca.location`).
    pub ca_cert: PathBuf,
    pub broker_cert: PathBuf,
    pub broker_key: PathBuf,
    /// The broker's next certificate (same names, same CA, a new key): what a certificate rotation installs.
    pub broker_next_cert: PathBuf,
    pub broker_next_key: PathBuf,
    /// A client certificate the mutual-TLS listener accepts (CN `sluice-worker`).
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA the broker does not trust, and a client certificate it signed.
    pub untrusted_ca_cert: PathBuf,
    pub untrusted_client_cert: PathBuf,
    pub untrusted_client_key: PathBuf,
}

impl KafkaTlsFiles {
    /// The file names under `dir` (generated or not).
    pub fn in_dir(dir: &Path) -> KafkaTlsFiles {
        KafkaTlsFiles {
            ca_cert: dir.join("ca.crt"),
            broker_cert: dir.join("broker.crt"),
            broker_key: dir.join("broker.key"),
            broker_next_cert: dir.join("broker-next.crt"),
            broker_next_key: dir.join("broker-next.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
            untrusted_ca_cert: dir.join("untrusted-ca.crt"),
            untrusted_client_cert: dir.join("untrusted-client.crt"),
            untrusted_client_key: dir.join("untrusted-client.key"),
        }
    }

    /// Generates every file into `dir` (created if missing); the broker's certificate is valid for `host`.
    pub fn generate(dir: &Path, host: IpAddr) -> Result<KafkaTlsFiles, TestBedError> {
        std::fs::create_dir_all(dir)
            .map_err(TestBedError::io(format!("creating {}", dir.display())))?;
        let files = KafkaTlsFiles::in_dir(dir);
        let ca = self_signed_ca("sluice-test-kafka-ca", &files.ca_cert)?;
        let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        if !host.is_loopback() {
            names.push(host.to_string());
        }
        let mut broker = CertificateParams::new(names).map_err(pki_error("the broker names"))?;
        broker.distinguished_name = dn("sluice-test-kafka-broker", None);
        broker.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        broker.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        signed_pair(
            &broker,
            &ca,
            &files.broker_cert,
            &files.broker_key,
            "broker",
        )?;
        signed_pair(
            &broker,
            &ca,
            &files.broker_next_cert,
            &files.broker_next_key,
            "the broker's next certificate",
        )?;
        let client = client_params("sluice-worker", None);
        signed_pair(
            &client,
            &ca,
            &files.client_cert,
            &files.client_key,
            "client",
        )?;

        let untrusted = self_signed_ca("sluice-test-untrusted-ca", &files.untrusted_ca_cert)?;
        signed_pair(
            &client_params("sluice-impostor", None),
            &untrusted,
            &files.untrusted_client_cert,
            &files.untrusted_client_key,
            "impostor",
        )?;
        Ok(files)
    }

    /// The broker's key store and trust store as `server.properties` lines (PEM values inline: Kafka reads an
    /// unencrypted PKCS#8 key only from the configuration itself, not from a PEM key store file).
    pub fn broker_properties(&self) -> Result<String, TestBedError> {
        Ok(format!(
            "ssl.keystore.type=PEM\n\
             ssl.keystore.certificate.chain={}\n\
             ssl.keystore.key={}\n\
             ssl.truststore.type=PEM\n\
             ssl.truststore.certificates={}\n",
            inline_pem(&self.broker_cert)?,
            inline_pem(&self.broker_key)?,
            inline_pem(&self.ca_cert)?,
        ))
    }

    /// The SASL_SSL listener's key store switched to the next certificate, as a dynamic broker config
    /// (`kafka-configs --add-config-file`): Kafka reloads a listener's key store without a restart.
    pub fn next_broker_keystore(&self) -> Result<String, TestBedError> {
        Ok(format!(
            "listener.name.sasl_ssl.ssl.keystore.certificate.chain={}\n\
             listener.name.sasl_ssl.ssl.keystore.key={}\n",
            inline_pem(&self.broker_next_cert)?,
            inline_pem(&self.broker_next_key)?,
        ))
    }
}

/// A PEM file as one properties value (newlines escaped).
fn inline_pem(path: &Path) -> Result<String, TestBedError> {
    std::fs::read_to_string(path)
        .map(|pem| pem.trim().replace('\n', "\\n"))
        .map_err(TestBedError::io(format!("reading {}", path.display())))
}
