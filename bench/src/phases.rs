//! The fixed-rate phases of `sluice-bench run`, each on fresh topics per system: latency (ceiling, Sluice,
//! Flink) and kill -9 recovery (Sluice, Flink); and the Flink peer's drain of the pre-loaded topics.

use std::time::Duration;

use sluice_crds::job_config::TopicsConfig;

use super::compare::compare_decisions;
use super::flink::FlinkRun;
use super::kill_restart::{self, RecoveryResult};
use super::latency::{LatencyLoad, LatencyResult, run_phase};
use super::setup::{Setup, topic_size};
use super::systems::{FLINK_OUT_OF_ORDERNESS, System, SystemOnTopics};
use super::throughput_report::{Drain, FlinkResult};
use sluice_testbed::binaries::terminate;
use sluice_testbed::kafka_admin::{create_job_topics, create_topics, job_topics};
use sluice_testbed::{TestBedError, unique_name};

/// Produced at the phase's rate but not measured: every client has connected and fetched by then.
pub const LATENCY_WARMUP: Duration = Duration::from_secs(3);

/// The load of a fixed-rate phase for `system`. Flink gets a longer tail and patience: an input's decision
/// appears only after its watermark passed the event (5 s of event time) and the next checkpoint committed.
pub fn load_for(
    setup: &Setup,
    system: System,
    cards: u64,
    rate: u32,
    secs: u64,
    flink_checkpoint_ms: u64,
) -> LatencyLoad {
    let (tail, quiet) = match system {
        System::Flink => {
            let ckpt = Duration::from_millis(flink_checkpoint_ms);
            (
                FLINK_OUT_OF_ORDERNESS + ckpt + Duration::from_secs(5),
                ckpt + Duration::from_secs(3),
            )
        }
        _ => (Duration::from_secs(2), Duration::from_secs(3)),
    };
    LatencyLoad {
        bootstrap: setup.bootstrap.clone(),
        partitions: setup.partitions,
        cards,
        rate,
        warmup: LATENCY_WARMUP,
        secs,
        tail,
        quiet,
    }
}

/// Fresh job topics for one phase of one system.
fn fresh<'a>(
    setup: &'a Setup,
    system: System,
    what: &str,
    flink: Option<&FlinkRun>,
) -> Result<SystemOnTopics<'a>, TestBedError> {
    let prefix = unique_name(what);
    let topics = job_topics(&prefix);
    create_job_topics(&setup.bootstrap, &topics, setup.partitions)?;
    SystemOnTopics::new(system, setup, &prefix, &topics, flink)
}

/// The latency floor: the same load read back from the input topic itself (non-transactional, so visible on
/// append), with no system in between. What remains is the load producer, the broker and the reader.
pub fn floor_latency(setup: &Setup, load: &LatencyLoad) -> Result<LatencyResult, TestBedError> {
    let topics = job_topics(&unique_name("floor"));
    create_job_topics(&setup.bootstrap, &topics, setup.partitions)?;
    run_phase(load, &topics, &topics.authorizations, |_| Ok(()))
}

/// The latency phase of one system: started (and warmed up), then loaded at a fixed rate.
pub fn latency(
    setup: &Setup,
    system: System,
    load: &LatencyLoad,
    flink: Option<&FlinkRun>,
) -> Result<LatencyResult, TestBedError> {
    let sys = fresh(setup, system, "lat", flink)?;
    let mut proc = sys.start("latency", None)?;
    let result = run_phase(load, &sys.topics, &sys.output(), |_| proc.check_alive());
    terminate(proc.pid());
    if proc.wait_exit(Duration::from_secs(30)).is_none() {
        proc.kill();
    }
    result
}

/// The kill -9 recovery phase of one system.
pub fn recovery(
    setup: &Setup,
    system: System,
    load: &LatencyLoad,
    flink: Option<&FlinkRun>,
) -> Result<RecoveryResult, TestBedError> {
    let sys = fresh(setup, system, "rec", flink)?;
    kill_restart::measure(&sys, load)
}

/// What bounds Flink's latency from below in this setup, with this run's settings.
pub fn flink_latency_floor(checkpoint_interval_ms: u64) -> String {
    format!(
        "the EXACTLY_ONCE KafkaSink commits its transaction when a checkpoint completes (every {checkpoint_interval_ms} ms \
         here), so a decision becomes visible to read_committed readers 0..{checkpoint_interval_ms} ms (plus the checkpoint's \
         own duration) after it was produced; and the job buffers each card's events until the watermark \
         (max event time − {} ms of out-of-orderness) has passed them, which at live rate adds about {} ms before \
         processing. Expected: p50 ≳ {} ms + interval/2, p99 ≳ {} ms + interval.",
        FLINK_OUT_OF_ORDERNESS.as_millis(),
        FLINK_OUT_OF_ORDERNESS.as_millis(),
        FLINK_OUT_OF_ORDERNESS.as_millis(),
        FLINK_OUT_OF_ORDERNESS.as_millis()
    )
}

/// Drains the pre-loaded topics with the Flink peer (outputs to `<prefix>-flink-*`) and compares its
/// decisions with Sluice's.
pub fn flink_drain(
    setup: &Setup,
    topics: &TopicsConfig,
    prefix: &str,
    template: &FlinkRun,
    records: u64,
) -> Result<FlinkResult, TestBedError> {
    let outputs = job_topics(&format!("{prefix}-flink"));
    create_topics(
        &setup.bootstrap,
        &[
            &outputs.decisions,
            &outputs.alerts,
            &outputs.dlq,
            &outputs.late,
        ],
        setup.partitions,
    )?;
    let run = FlinkRun {
        inputs: topics.clone(),
        outputs: outputs.clone(),
        prefix: format!("{prefix}-flink"),
        checkpoint_dir: setup.dir.join("flink-checkpoints"),
        bounded: true,
        restore_from: None,
        ..template.clone()
    };
    let d = run.drain(&setup.dir.join("flink-drain.log"))?;
    let size = |t: &str| topic_size(&setup.bootstrap, t, setup.partitions);
    let cpu = d.cpu_seconds;
    Ok(FlinkResult {
        drain: Drain {
            records,
            seconds: d.seconds,
            records_per_sec: records as f64 / d.seconds,
            cpu_seconds: cpu,
            records_per_cpu_sec: if cpu > 0.0 { records as f64 / cpu } else { 0.0 },
            cpu_sec_per_million: cpu / (records as f64 / 1e6),
            peak_rss_mib: d.peak_rss_kib as f64 / 1024.0,
            timeline: d.timeline,
        },
        parallelism: run.parallelism,
        checkpoint_interval_ms: run.checkpoint_interval_ms,
        heap_mib: run.heap_mib,
        ended_by: d.ended_by,
        drain_decisions: size(&outputs.decisions),
        drain_late: size(&outputs.late),
        drain_dlq: size(&outputs.dlq),
        decisions_vs_sluice: compare_decisions(
            &setup.bootstrap,
            setup.partitions,
            topics,
            &outputs,
        )?,
        latency_floor: flink_latency_floor(run.checkpoint_interval_ms),
        ..Default::default()
    })
}
