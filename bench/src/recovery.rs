//! The worker side of the checkpoint benchmark: starting `sluice-worker` next to `sluice-bench` (JSON logs, so
//! recovery facts can be read back), and timing a restart from process start to the first new decision a
//! read_committed consumer sees — the moment a restarted job is useful again.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;
use sluice_api::control_client::ControlClient;

use super::setup::sibling;
use sluice_testbed::TestBedError;
use sluice_testbed::job_harness::{JobHarness, RunningWorker, WorkerSpec};
use sluice_testbed::ports::free_port;
use sluice_testbed::process::ManagedProcess;
use sluice_testbed::testbed::{S3_ACCESS_KEY, S3_SECRET_KEY};

/// The worker's log message for each partition state it downloaded (field `bytes`).
const DOWNLOADED: &str = "downloaded state from the checkpoint store";

/// One timed restart.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecoveryRun {
    /// Input records produced while the worker was dead (waiting for it at restart).
    pub pending_records: u64,
    /// Process start → first new decision visible to a read_committed consumer.
    pub first_decision_ms: f64,
    /// Process start → `/readyz` answered 200 (None if the decision came first).
    pub ready_ms: Option<f64>,
    /// `init_transactions` (fencing the killed instance's transaction), from the worker's log.
    pub init_transactions_ms: Option<u64>,
    /// The worker's own "recovery complete" time (init_transactions + restore + replay), from its log.
    pub worker_recovery_ms: Option<u64>,
    /// Records replayed from Kafka on top of the restored checkpoints (all partitions).
    pub replayed_records: u64,
    /// State bytes downloaded from the checkpoint store, and for how many partitions.
    pub downloaded_bytes: u64,
    pub downloaded_partitions: u32,
}

pub fn runtime() -> Result<tokio::runtime::Runtime, TestBedError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(TestBedError::io("starting a runtime"))
}

/// Starts a worker like [`JobHarness::start`] does, with the `sluice-worker` beside this executable, info-level
/// JSON logs to `log`, and the test S3 credentials.
pub fn spawn_worker(
    h: &JobHarness,
    spec: &WorkerSpec,
    log: &Path,
) -> Result<RunningWorker, TestBedError> {
    let config = h.write_config(spec)?;
    let control = free_port()?;
    let metrics = free_port()?;
    let mut cmd = Command::new(sibling("sluice-worker")?);
    cmd.arg(&config)
        .env("RUST_LOG", "info")
        .env("SLUICE_LOG_FORMAT", "json")
        .env("SLUICE_CONTROL_ADDR", format!("127.0.0.1:{control}"))
        .env("SLUICE_METRICS_ADDR", format!("127.0.0.1:{metrics}"))
        .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let process = ManagedProcess::spawn("sluice-worker", cmd, log)?;
    Ok(RunningWorker {
        process,
        control_url: format!("http://127.0.0.1:{control}"),
        metrics_url: format!("http://127.0.0.1:{metrics}/metrics"),
    })
}

/// Waits until the worker's control API answers `/readyz`.
pub fn wait_ready(
    h: &JobHarness,
    w: &mut RunningWorker,
    timeout: Duration,
) -> Result<(), TestBedError> {
    let rt = runtime()?;
    let c = ControlClient::new(&w.control_url, Some(h.token.clone()));
    let deadline = Instant::now() + timeout;
    while !rt.block_on(c.ready()) {
        w.process.check_alive()?;
        if Instant::now() > deadline {
            return Err(TestBedError::Env(format!(
                "worker not ready after {timeout:?}: {}",
                w.process.log_tail(30)
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// A read_committed reader of `topic` positioned at its current end: the next record it returns was
/// committed after it was created.
pub struct NewRecords {
    consumer: BaseConsumer,
}

impl NewRecords {
    pub fn at_end(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
    ) -> Result<NewRecords, TestBedError> {
        let env =
            |e: rdkafka::error::KafkaError| TestBedError::Env(format!("reader of {topic}: {e}"));
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", sluice_testbed::unique_name("recovery-reader"))
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "5")
            .create()
            .map_err(env)?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .map_err(env)?;
            tpl.add_partition_offset(topic, p, Offset::Offset(high))
                .map_err(env)?;
        }
        consumer.assign(&tpl).map_err(env)?;
        Ok(NewRecords { consumer })
    }

    /// Starts the worker for `spec` and times it until the first new record appears on the reader's topic.
    pub fn time_restart(
        &self,
        h: &JobHarness,
        spec: &WorkerSpec,
        log: &Path,
        timeout: Duration,
    ) -> Result<(RunningWorker, RecoveryRun), TestBedError> {
        let rt = runtime()?;
        let started = Instant::now();
        let mut w = spawn_worker(h, spec, log)?;
        let control = ControlClient::new(&w.control_url, Some(h.token.clone()));
        let mut run = RecoveryRun::default();
        loop {
            if let Some(m) = self.consumer.poll(Duration::from_millis(10)) {
                m.map_err(|e| TestBedError::Env(format!("recovery reader: {e}")))?;
                run.first_decision_ms = started.elapsed().as_secs_f64() * 1000.0;
                break;
            }
            if run.ready_ms.is_none() && rt.block_on(control.ready()) {
                run.ready_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
            }
            w.process.check_alive()?;
            if started.elapsed() > timeout {
                return Err(TestBedError::Env(format!(
                    "no new decision {timeout:?} after the restart; log {}",
                    log.display()
                )));
            }
        }
        read_recovery_log(log, &mut run);
        Ok((w, run))
    }
}

/// Fills the log-derived fields of `run` from the worker's JSON log.
fn read_recovery_log(log: &Path, run: &mut RecoveryRun) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let f = &v["fields"];
        match f["message"].as_str() {
            Some(DOWNLOADED) => {
                run.downloaded_bytes += f["bytes"].as_u64().unwrap_or(0);
                run.downloaded_partitions += 1;
            }
            Some("partition recovered") => {
                run.replayed_records += f["replayed_records"].as_u64().unwrap_or(0);
            }
            Some("transactions initialised") => run.init_transactions_ms = f["ms"].as_u64(),
            Some("recovery complete; processing") => run.worker_recovery_ms = f["ms"].as_u64(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_recovery_facts_from_json_logs() {
        let dir = std::env::temp_dir().join(sluice_testbed::unique_name("recovery-log"));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("w.log");
        let lines = [
            r#"{"level":"INFO","fields":{"message":"downloaded state from the checkpoint store","partition":0,"bytes":1000}}"#,
            r#"{"level":"INFO","fields":{"message":"downloaded state from the checkpoint store","partition":1,"bytes":24}}"#,
            r#"{"level":"INFO","fields":{"message":"partition recovered","partition":0,"replayed_records":7}}"#,
            "not json",
            r#"{"level":"INFO","fields":{"message":"transactions initialised","ms":300}}"#,
            r#"{"level":"INFO","fields":{"message":"recovery complete; processing","ms":812}}"#,
        ];
        std::fs::write(&log, lines.join("\n")).unwrap();
        let mut run = RecoveryRun::default();
        read_recovery_log(&log, &mut run);
        assert_eq!(
            (
                run.downloaded_bytes,
                run.downloaded_partitions,
                run.replayed_records
            ),
            (1024, 2, 7)
        );
        assert_eq!(run.worker_recovery_ms, Some(812));
        assert_eq!(run.init_transactions_ms, Some(300));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
