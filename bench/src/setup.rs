//! What every benchmark shares: locating the sibling binaries of `sluice-bench`, the broker-side helpers
//! (topic sizes, deleting a run's topics), the machine description, and starting a worker or the ceiling
//! pipe for the throughput run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

use sluice_testbed::TestBedError;
use sluice_testbed::process::ManagedProcess;

/// `name` next to the running executable (`target/<profile>/sluice-bench` → `target/<profile>/<name>`).
/// [`sluice_testbed::binaries::binary`] looks one level up, as test executables live in `deps/`.
pub fn sibling(name: &str) -> Result<PathBuf, TestBedError> {
    let exe =
        std::env::current_exe().map_err(|e| TestBedError::Env(format!("current_exe: {e}")))?;
    let path = exe.with_file_name(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(TestBedError::Env(format!(
            "{} missing: build the workspace binaries first",
            path.display()
        )))
    }
}

/// Sum of the high watermarks of `topic` partitions (records written, including aborted ones and markers).
pub fn topic_size(bootstrap: &str, topic: &str, partitions: i32) -> i64 {
    let Ok(c) = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create::<BaseConsumer>()
    else {
        return -1;
    };
    (0..partitions)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .map_or(0, |(_, h)| h)
        })
        .sum()
}

/// Deletes `topics` (a benchmark's inputs and outputs can be gigabytes on a small shared disk).
pub fn delete_topics(bootstrap: &str, topics: &[&str]) -> Result<(), TestBedError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| TestBedError::Env(format!("admin client: {e}")))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(TestBedError::io("starting a runtime"))?;
    let results = rt
        .block_on(admin.delete_topics(
            topics,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        ))
        .map_err(|e| TestBedError::Env(format!("delete_topics: {e}")))?;
    for r in results {
        r.map_err(|(t, code)| TestBedError::Env(format!("deleting topic {t}: {code}")))?;
    }
    Ok(())
}

/// "N cores, <CPU model>" from /proc/cpuinfo.
pub use sluice_testbed::provenance::machine;

/// The throughput run's broker, scratch directory and commit settings.
pub struct Setup {
    pub bootstrap: String,
    pub dir: PathBuf,
    pub partitions: i32,
    pub commit_interval_ms: u64,
}

impl Setup {
    pub fn worker_config(
        &self,
        prefix: &str,
        topics: &sluice_crds::job_config::TopicsConfig,
    ) -> Result<PathBuf, TestBedError> {
        let parts: Vec<i32> = (0..self.partitions).collect();
        let cfg = serde_json::json!({
            "job": {
                "transactionalIdPrefix": prefix,
                "commitInterval": format!("{}ms", self.commit_interval_ms),
                "kafka": { "bootstrapServers": self.bootstrap },
                "topics": topics,
                "state": { "dir": self.dir.join(format!("{prefix}-state")).display().to_string() },
            },
            "worker": { "identity": "bench-w0", "partitions": parts },
        });
        let path = self.dir.join(format!("{prefix}.yaml"));
        let text = serde_norway::to_string(&cfg).map_err(|e| TestBedError::Env(e.to_string()))?;
        std::fs::write(&path, text).map_err(|e| TestBedError::Env(e.to_string()))?;
        Ok(path)
    }

    pub fn spawn_worker(&self, config: &Path, log: &str) -> Result<ManagedProcess, TestBedError> {
        let mut cmd = Command::new(sibling("sluice-worker")?);
        cmd.arg(config)
            .env("RUST_LOG", "warn")
            .env("SLUICE_CONTROL_ADDR", "127.0.0.1:0")
            .env("SLUICE_METRICS_ADDR", "127.0.0.1:0");
        ManagedProcess::spawn("sluice-worker", cmd, &self.dir.join(log))
    }

    pub fn spawn_pipe(
        &self,
        inputs: &[&str],
        output: &str,
        group: &str,
        log: &str,
    ) -> Result<ManagedProcess, TestBedError> {
        let mut cmd =
            Command::new(std::env::current_exe().map_err(|e| TestBedError::Env(e.to_string()))?);
        cmd.arg("pipe")
            .arg("--bootstrap")
            .arg(&self.bootstrap)
            .arg("--inputs")
            .arg(inputs.join(","))
            .arg("--output")
            .arg(output)
            .arg("--partitions")
            .arg(self.partitions.to_string())
            .arg("--group")
            .arg(group)
            .arg("--txn-id")
            .arg(format!("{group}-txn"))
            .arg("--commit-interval-ms")
            .arg(self.commit_interval_ms.to_string());
        ManagedProcess::spawn("pipe", cmd, &self.dir.join(log))
    }
}
