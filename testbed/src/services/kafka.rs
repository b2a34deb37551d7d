//! A single-node Apache Kafka broker in KRaft mode (combined broker + controller) on loopback, or on the real
//! node's bridge address so that pods reach it.
//!
//! Configured for a transactional workload on one node: the transaction state log and offsets topic use
//! replication 1 / min ISR 1, transactions may stay open up to an hour, consumer groups rebalance without the
//! initial delay, and topics are never auto-created (tests create theirs with explicit partition counts).
//!
//! Besides the PLAINTEXT listener, the broker has three secured ones, so the clients' security settings run
//! against a real authenticating broker: SASL_PLAINTEXT (mechanism PLAIN), SASL_SSL (SCRAM-SHA-512) and SSL
//! with a required client certificate (mutual TLS). Both SASL listeners know one test user, [`SASL_USER`] /
//! [`SASL_PASSWORD`]; the TLS material comes from [`super::kafka_tls`], generated when the broker is formatted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::kafka_tls::KafkaTlsFiles;
use crate::TestBedError;
use crate::install::ensure_kafka;
use crate::ports::{free_port, free_port_on};
use crate::process::{ManagedProcess, accepts_tcp, log_contains};

/// The test user of the SASL listeners, PLAIN and SCRAM-SHA-512 (test-only credentials, local addresses only).
pub const SASL_USER: &str = "sluice";
pub const SASL_PASSWORD: &str = "sluice-test-kafka-secret";

/// How long a SCRAM session on the SASL_SSL listener lasts before the client must authenticate again
/// (`connections.max.reauth.ms`, KIP-368): short, so a test sees rotated credentials being used, and a client
/// that keeps stale ones loses its connections, within seconds.
pub const SCRAM_REAUTH: Duration = Duration::from_secs(10);

const READY_LINE: &str = "Kafka Server started";
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A running (or stopped, restartable) broker. Its data survives [`KafkaBroker::stop`] / [`KafkaBroker::start_again`].
#[derive(Debug)]
pub struct KafkaBroker {
    dir: PathBuf,
    host: IpAddr,
    port: u16,
    sasl_port: u16,
    sasl_ssl_port: u16,
    ssl_port: u16,
    controller_port: u16,
    process: Option<ManagedProcess>,
    /// Delete `dir` on drop (private instances) or keep it (shared instances started by `sluice-testbed`).
    remove_dir_on_drop: bool,
}

impl KafkaBroker {
    /// Formats a fresh log dir under `dir` and starts the broker on free loopback ports.
    pub fn start(dir: &Path) -> Result<KafkaBroker, TestBedError> {
        KafkaBroker::start_on(dir, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Like [`KafkaBroker::start`], with the client listeners on `host` (a local address); the controller
    /// listener stays on loopback.
    pub fn start_on(dir: &Path, host: IpAddr) -> Result<KafkaBroker, TestBedError> {
        ensure_kafka()?;
        std::fs::create_dir_all(dir.join("data"))
            .map_err(TestBedError::io(format!("creating {}", dir.display())))?;
        let mut broker = KafkaBroker {
            dir: dir.to_path_buf(),
            host,
            port: free_port_on(host)?,
            sasl_port: free_port_on(host)?,
            sasl_ssl_port: free_port_on(host)?,
            ssl_port: free_port_on(host)?,
            controller_port: free_port()?,
            process: None,
            remove_dir_on_drop: true,
        };
        KafkaTlsFiles::generate(&broker.tls_dir(), host)?;
        broker.write_config()?;
        broker.format()?;
        broker.start_again()?;
        Ok(broker)
    }

    /// Keeps the data directory when this handle is dropped.
    pub fn keep_dir(mut self) -> Self {
        self.remove_dir_on_drop = false;
        self
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        SocketAddr::new(self.host, self.port).to_string()
    }

    /// `host:port` of the SASL_PLAINTEXT listener (PLAIN, [`SASL_USER`] / [`SASL_PASSWORD`]).
    pub fn sasl_bootstrap(&self) -> String {
        SocketAddr::new(self.host, self.sasl_port).to_string()
    }

    /// `host:port` of the SASL_SSL listener (SCRAM-SHA-512, [`SASL_USER`] / [`SASL_PASSWORD`]; the broker's
    /// certificate is signed by [`KafkaBroker::tls`]'s CA).
    pub fn sasl_ssl_bootstrap(&self) -> String {
        SocketAddr::new(self.host, self.sasl_ssl_port).to_string()
    }

    /// `host:port` of the SSL listener that requires a client certificate signed by [`KafkaBroker::tls`]'s CA.
    pub fn mtls_bootstrap(&self) -> String {
        SocketAddr::new(self.host, self.ssl_port).to_string()
    }

    /// The CA, broker and client certificates of the secured listeners.
    pub fn tls(&self) -> KafkaTlsFiles {
        KafkaTlsFiles::in_dir(&self.tls_dir())
    }

    fn tls_dir(&self) -> PathBuf {
        self.dir.join("tls")
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ManagedProcess::pid)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("kafka.log")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    fn classpath() -> String {
        format!("{}/*", crate::install::kafka_libs_dir().display())
    }

    fn write_config(&self) -> Result<(), TestBedError> {
        let data = self.dir.join("data");
        let props = format!(
            "process.roles=broker,controller\n\
             node.id=1\n\
             controller.quorum.bootstrap.servers=127.0.0.1:{c}\n\
             listeners=PLAINTEXT://{h}:{p},SASL_PLAINTEXT://{h}:{sp},SASL_SSL://{h}:{ssp},SSL://{h}:{tp},CONTROLLER://127.0.0.1:{c}\n\
             advertised.listeners=PLAINTEXT://{h}:{p},SASL_PLAINTEXT://{h}:{sp},SASL_SSL://{h}:{ssp},SSL://{h}:{tp}\n\
             controller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT\n\
             inter.broker.listener.name=PLAINTEXT\n\
             listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_{user}=\"{password}\";\n\
             listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512\n\
             listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
             listener.name.sasl_ssl.scram-sha-512.connections.max.reauth.ms={reauth}\n\
             listener.name.ssl.ssl.client.auth=required\n\
             {tls}\
             log.dirs={data}\n\
             num.partitions=1\n\
             auto.create.topics.enable=false\n\
             offsets.topic.replication.factor=1\n\
             offsets.topic.num.partitions=8\n\
             transaction.state.log.replication.factor=1\n\
             transaction.state.log.min.isr=1\n\
             transaction.state.log.num.partitions=8\n\
             share.coordinator.state.topic.replication.factor=1\n\
             share.coordinator.state.topic.min.isr=1\n\
             transaction.max.timeout.ms=3600000\n\
             group.initial.rebalance.delay.ms=0\n\
             log.retention.hours=-1\n",
            h = self.host,
            p = self.port,
            sp = self.sasl_port,
            ssp = self.sasl_ssl_port,
            tp = self.ssl_port,
            tls = self.tls().broker_properties()?,
            c = self.controller_port,
            user = SASL_USER,
            password = SASL_PASSWORD,
            reauth = SCRAM_REAUTH.as_millis(),
            data = data.display()
        );
        std::fs::write(self.config_path(), props)
            .map_err(TestBedError::io("writing server.properties"))?;
        let log4j = "rootLogger.level=INFO\n\
                     rootLogger.appenderRef.stdout.ref=STDOUT\n\
                     appender.stdout.type=Console\n\
                     appender.stdout.name=STDOUT\n\
                     appender.stdout.layout.type=PatternLayout\n\
                     appender.stdout.layout.pattern=[%d] %p %m (%c)%n\n\
                     logger.kafka.name=kafka\n\
                     logger.kafka.level=INFO\n\
                     logger.state.name=state.change.logger\n\
                     logger.state.level=WARN\n";
        std::fs::write(self.dir.join("log4j2.properties"), log4j)
            .map_err(TestBedError::io("writing log4j2.properties"))
    }

    fn java(&self) -> Command {
        let mut cmd = Command::new("java");
        // The JVM options of Kafka's own start scripts (kafka-server-start.sh, kafka-run-class.sh): above all
        // G1's 20 ms pause goal. With G1's default (200 ms) the broker's collections showed up as 200–600 ms
        // stalls in the latency tail of every system in the benchmark.
        cmd.arg("-Xms1g")
            .arg("-Xmx1g")
            .arg("-server")
            .arg("-XX:+UseG1GC")
            .arg("-XX:MaxGCPauseMillis=20")
            .arg("-XX:InitiatingHeapOccupancyPercent=35")
            .arg("-XX:+ExplicitGCInvokesConcurrent")
            .arg("-Djava.awt.headless=true")
            .arg(format!(
                "-Xlog:gc:file={}:time,uptime:filecount=2,filesize=20m",
                self.dir.join("gc.log").display()
            ))
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(Self::classpath());
        cmd
    }

    fn format(&self) -> Result<(), TestBedError> {
        // A KRaft cluster id is 16 bytes, base64url without padding; derived from the ports, unique enough.
        let cluster_id = cluster_id(self.port, self.controller_port);
        let mut cmd = self.java();
        cmd.arg("kafka.tools.StorageTool")
            .arg("format")
            .arg("-t")
            .arg(cluster_id)
            .arg("-c")
            .arg(self.config_path())
            .arg("--standalone")
            // SCRAM credentials live in the cluster metadata; formatting is where KRaft takes the first ones.
            .arg("--add-scram")
            .arg(format!(
                "SCRAM-SHA-512=[name={SASL_USER},password={SASL_PASSWORD}]"
            ));
        crate::install::run(cmd)
    }

    /// Creates SCRAM-SHA-512 user `name` (or sets its password), as an administrator rotating credentials
    /// would: through the plaintext listener, with Kafka's own `kafka-configs` tool.
    pub fn set_scram_user(&self, name: &str, password: &str) -> Result<(), TestBedError> {
        let config = format!("SCRAM-SHA-512=[iterations=4096,password={password}]");
        self.configs(&[
            "--entity-type",
            "users",
            "--add-config",
            &config,
            "--entity-name",
            name,
        ])
    }

    /// Deletes SCRAM user `name`: connections that authenticate with it from now on are refused.
    pub fn delete_scram_user(&self, name: &str) -> Result<(), TestBedError> {
        self.configs(&[
            "--entity-type",
            "users",
            "--delete-config",
            "SCRAM-SHA-512",
            "--entity-name",
            name,
        ])
    }

    /// Switches the SASL_SSL listener to the broker's next certificate (same CA and names) while it runs, as
    /// an operator rotating an expiring certificate would: existing connections stay, new handshakes get
    /// the new certificate.
    pub fn rotate_certificate(&self) -> Result<(), TestBedError> {
        let file = self.dir.join(format!(
            "keystore-{}.properties",
            crate::unique_name("next")
        ));
        std::fs::write(&file, self.tls().next_broker_keystore()?)
            .map_err(TestBedError::io("writing the key store update"))?;
        let path = file.display().to_string();
        self.configs(&[
            "--entity-type",
            "brokers",
            "--entity-name",
            "1",
            "--add-config-file",
            &path,
        ])
    }

    /// `kafka-configs --alter` with `args` (for users: `--entity-type users --entity-name …`).
    fn configs(&self, args: &[&str]) -> Result<(), TestBedError> {
        let mut cmd = self.java();
        cmd.arg("kafka.admin.ConfigCommand")
            .arg("--bootstrap-server")
            .arg(self.bootstrap())
            .arg("--alter")
            .args(args);
        crate::install::run(cmd)
    }

    /// Starts the broker process over the existing data dir and waits until it serves clients.
    pub fn start_again(&mut self) -> Result<(), TestBedError> {
        if self.process.is_some() {
            return Ok(());
        }
        let log = self.log_path();
        // Start from an empty log so readiness is judged on this start's output only.
        let _ = std::fs::remove_file(&log);
        let mut cmd = self.java();
        cmd.arg("kafka.Kafka").arg(self.config_path());
        let mut process = ManagedProcess::spawn("kafka", cmd, &log)?;
        let addr = SocketAddr::new(self.host, self.port);
        process.wait_until(START_TIMEOUT, |p| {
            log_contains(p.log_path(), READY_LINE) && accepts_tcp(addr)
        })?;
        self.process = Some(process);
        Ok(())
    }

    /// Kills the broker (SIGKILL, like a machine dying); data stays for [`KafkaBroker::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        self.stop();
        if self.remove_dir_on_drop {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// 16 bytes from the two ports and the process id, base64url-encoded without padding (22 characters).
fn cluster_id(port: u16, controller_port: u16) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 16];
    bytes[..2].copy_from_slice(&port.to_be_bytes());
    bytes[2..4].copy_from_slice(&controller_port.to_be_bytes());
    bytes[4..8].copy_from_slice(&std::process::id().to_be_bytes());
    bytes[8..].copy_from_slice(b"sluice!!");
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(char::from(ALPHABET[((acc >> bits) & 63) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (6 - bits)) & 63) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cluster_id;

    #[test]
    fn cluster_id_is_22_base64url_chars() {
        let id = cluster_id(9092, 9093);
        assert_eq!(id.len(), 22);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(id, cluster_id(9094, 9093));
    }
}
