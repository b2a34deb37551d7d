//! Recovery under load, for Sluice and the Flink peer alike: fresh topics, the fixed-rate generator, the
//! system killed with SIGKILL halfway through the window and started again at once — Sluice on the same
//! config and state directory, Flink with `--restore-from` its newest retained checkpoint (a mini cluster has
//! no high-availability store to find it by itself) — timed from the restart to the first decision committed
//! after the kill; then the window's input is checked for 0 duplicates and 0 losses.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;

use super::completeness::{Completeness, check};
use super::flink::{latest_checkpoint, open_transaction_records};
use super::latency::{LatencyLoad, run_phase};
use super::systems::{FLINK_IDLE_TIMEOUT, System, SystemOnTopics};
use sluice_testbed::TestBedError;
use sluice_testbed::kafka_admin::group_lag;
use sluice_testbed::process::ManagedProcess;

/// One system's kill -9 and restart.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecoveryResult {
    /// Seconds into the window when the process was killed.
    pub killed_at_secs: f64,
    /// Flink: the checkpoint it resumed from (None for Sluice: state dir + progress log).
    pub restored_from: Option<String>,
    /// Restart (process start) → first decision a read_committed consumer sees that was committed after
    /// the kill.
    pub first_new_decision_ms: f64,
    /// Kill → that decision (includes finding the checkpoint; the restart is immediate).
    pub kill_to_first_decision_ms: f64,
    pub exactly_once: Completeness,
}

fn env_err(what: impl std::fmt::Display) -> TestBedError {
    TestBedError::Env(format!("recovery phase: {what}"))
}

/// A read_committed reader of `topic` positioned at its current end.
fn reader_at_end(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<BaseConsumer, TestBedError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", sluice_testbed::unique_name("restart-reader"))
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .create()
        .map_err(env_err)?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .map_err(env_err)?;
        tpl.add_partition_offset(topic, p, Offset::Offset(high))
            .map_err(env_err)?;
    }
    consumer.assign(&tpl).map_err(env_err)?;
    Ok(consumer)
}

/// Kills `proc`, restarts the system and waits for its first new committed decision.
fn kill_and_restart(
    sys: &SystemOnTopics,
    proc: &mut ManagedProcess,
    timeout: Duration,
    result: &mut RecoveryResult,
) -> Result<ManagedProcess, TestBedError> {
    let killed = Instant::now();
    proc.kill();
    let reader = reader_at_end(&sys.setup.bootstrap, &sys.output(), sys.setup.partitions)?;
    let restore = match (&sys.flink, sys.system) {
        (Some(f), System::Flink) => Some(
            latest_checkpoint(&f.checkpoint_dir)?
                .ok_or_else(|| env_err("no completed Flink checkpoint to restore from"))?,
        ),
        _ => None,
    };
    result.restored_from = restore.as_ref().map(|p| p.display().to_string());
    let started = Instant::now();
    let mut restarted = sys.spawn_now("restarted", restore)?;
    loop {
        if let Some(m) = reader.poll(Duration::from_millis(10)) {
            m.map_err(env_err)?;
            result.first_new_decision_ms = started.elapsed().as_secs_f64() * 1000.0;
            result.kill_to_first_decision_ms = killed.elapsed().as_secs_f64() * 1000.0;
            return Ok(restarted);
        }
        restarted.check_alive()?;
        if started.elapsed() > timeout {
            return Err(env_err(format_args!(
                "no new decision {timeout:?} after the restart; log {}",
                restarted.log_path().display()
            )));
        }
    }
}

/// Runs the phase for one system on fresh topics.
pub fn measure(sys: &SystemOnTopics, load: &LatencyLoad) -> Result<RecoveryResult, TestBedError> {
    let mut first = sys.start("recovery", None)?;
    let mut restarted: Option<ManagedProcess> = None;
    let mut result = RecoveryResult::default();
    let kill_at = Duration::from_secs_f64(load.secs as f64 / 2.0);
    let commit_wait = sys.flink.as_ref().map_or(Duration::ZERO, |f| {
        Duration::from_millis(f.checkpoint_interval_ms)
    });
    let timeout = commit_wait + Duration::from_secs(180);
    let phase = run_phase(load, &sys.topics, &sys.output(), |elapsed| {
        if restarted.is_none() && elapsed >= kill_at {
            result.killed_at_secs = elapsed.as_secs_f64();
            restarted = Some(kill_and_restart(sys, &mut first, timeout, &mut result)?);
        }
        if let Some(p) = restarted.as_mut() {
            p.check_alive()?;
        }
        Ok(())
    })?;
    let mut proc = restarted.ok_or_else(|| env_err("the phase ended before the kill"))?;
    wait_committed(sys, &mut proc, timeout)?;
    proc.kill();
    result.exactly_once = check(
        &sys.setup.bootstrap,
        sys.setup.partitions,
        &sys.topics,
        phase.window_end_ms,
    )?;
    Ok(result)
}

/// Waits until the system has committed all its input offsets and no output transaction is open. Flink then
/// gets its split idle timeout plus one checkpoint interval (partitions that went quiet stop holding its
/// watermark back, and the events that releases are decided and committed), and the same wait once more.
fn wait_committed(
    sys: &SystemOnTopics,
    proc: &mut ManagedProcess,
    timeout: Duration,
) -> Result<(), TestBedError> {
    wait_no_lag_no_open(sys, proc, timeout)?;
    if let Some(f) = &sys.flink {
        std::thread::sleep(FLINK_IDLE_TIMEOUT + Duration::from_millis(f.checkpoint_interval_ms));
        wait_no_lag_no_open(sys, proc, timeout)?;
        std::thread::sleep(Duration::from_millis(f.checkpoint_interval_ms));
    }
    Ok(())
}

/// Waits until the group has committed every input offset and no output partition holds an open transaction.
fn wait_no_lag_no_open(
    sys: &SystemOnTopics,
    proc: &mut ManagedProcess,
    timeout: Duration,
) -> Result<(), TestBedError> {
    let t = &sys.topics;
    let inputs = [
        t.authorizations.as_str(),
        t.device_telemetry.as_str(),
        t.account_changes.as_str(),
    ];
    let outputs = [
        t.decisions.as_str(),
        t.alerts.as_str(),
        t.dlq.as_str(),
        t.late.as_str(),
    ];
    let (bootstrap, partitions) = (&sys.setup.bootstrap, sys.setup.partitions);
    let started = Instant::now();
    while group_lag(bootstrap, &sys.group(), &inputs, partitions)? > 0
        || open_transaction_records(bootstrap, &outputs, partitions)? > 0
    {
        proc.check_alive()?;
        if started.elapsed() > timeout {
            return Err(env_err(format_args!(
                "{} did not commit its input within {timeout:?}",
                sys.system.name()
            )));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}
