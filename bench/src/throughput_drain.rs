//! `sluice-bench run`'s throughput phase: one set of pre-loaded topics drained by the ceiling pipe, then by
//! Sluice, then by Flink, each measured from its start until its group has committed every input record.

use std::time::{Duration, Instant};

use super::flink::FlinkRun;
use super::phases::flink_drain;
use super::procstat::{cpu_seconds, peak_rss_kib};
use super::setup::{Setup, topic_size};
use super::throughput::RunArgs;
use super::throughput_report::{BenchResult, Drain};
use super::timeline::CommittedSampler;
use sluice_testbed::binaries::terminate;
use sluice_testbed::kafka_admin::{create_job_topics, create_topics, group_lag, job_topics};
use sluice_testbed::process::ManagedProcess;
use sluice_testbed::{TestBedError, unique_name};

/// Throughput: one set of pre-loaded topics, drained by the ceiling pipe, then by Sluice, then by Flink.
pub fn drains(
    args: &RunArgs,
    setup: &Setup,
    flink: Option<&FlinkRun>,
    result: &mut BenchResult,
) -> Result<(), TestBedError> {
    let prefix = unique_name("bench");
    let topics = job_topics(&prefix);
    create_job_topics(&setup.bootstrap, &topics, setup.partitions)?;
    let pipe_out = format!("{prefix}-pipe-out");
    create_topics(&setup.bootstrap, &[&pipe_out], setup.partitions)?;
    eprintln!("preloading {} authorizations…", args.authorizations);
    let produced = sluice_cli::produce::produce(
        &setup.bootstrap,
        &topics,
        sluice_generator_config(args, args.authorizations),
        0,
        |_| {},
    )
    .map_err(|e| TestBedError::Env(e.to_string()))?;
    result.input_records = produced.records;
    let inputs = [
        topics.authorizations.as_str(),
        topics.device_telemetry.as_str(),
        topics.account_changes.as_str(),
    ];

    eprintln!(
        "ceiling: draining {} records through the identity pipe…",
        produced.records
    );
    let group = format!("{prefix}-pipe");
    let started = Instant::now();
    let p = setup.spawn_pipe(&inputs, &pipe_out, &group, "pipe-drain.log")?;
    result.ceiling.drain = drain(setup, p, &group, &inputs, produced.records, started)?;

    eprintln!("sluice: draining the same records through one worker…");
    let config = setup.worker_config(&prefix, &topics)?;
    let started = Instant::now();
    let w = setup.spawn_worker(&config, "worker-drain.log")?;
    result.sluice.drain = drain(setup, w, &prefix, &inputs, produced.records, started)?;
    result.sluice_drain_decisions =
        topic_size(&setup.bootstrap, &topics.decisions, setup.partitions);
    result.sluice_drain_late = topic_size(&setup.bootstrap, &topics.late, setup.partitions);
    result.sluice_drain_dlq = topic_size(&setup.bootstrap, &topics.dlq, setup.partitions);
    result.sluice_vs_ceiling_throughput =
        result.sluice.drain.records_per_sec / result.ceiling.drain.records_per_sec.max(1e-9);

    if let Some(template) = flink {
        eprintln!("flink: draining the same records through the Flink peer…");
        let f = flink_drain(setup, &topics, &prefix, template, produced.records)?;
        let ratio = |s: f64, f: f64| Some(s / f.max(1e-9));
        result.sluice_vs_flink_throughput =
            ratio(result.sluice.drain.records_per_sec, f.drain.records_per_sec);
        result.sluice_vs_flink_per_cpu = ratio(
            result.sluice.drain.records_per_cpu_sec,
            f.drain.records_per_cpu_sec,
        );
        result.sluice_vs_flink_rss = ratio(result.sluice.drain.peak_rss_mib, f.drain.peak_rss_mib);
        result.flink = Some(f);
    }
    Ok(())
}

/// Waits until `group` has committed everything in `inputs`, then measures and stops the process.
fn drain(
    setup: &Setup,
    mut proc: ManagedProcess,
    group: &str,
    inputs: &[&str],
    records: u64,
    started: Instant,
) -> Result<Drain, TestBedError> {
    let mut sampler =
        CommittedSampler::new(&setup.bootstrap, group, inputs, setup.partitions, started)?;
    loop {
        sampler.tick();
        proc.check_alive()?;
        if group_lag(&setup.bootstrap, group, inputs, setup.partitions)? == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(proc.pid()).unwrap_or(0.0);
    let rss = peak_rss_kib(proc.pid()).unwrap_or(0) as f64 / 1024.0;
    terminate(proc.pid());
    proc.wait_exit(Duration::from_secs(60));
    Ok(Drain {
        records,
        seconds,
        records_per_sec: records as f64 / seconds,
        cpu_seconds: cpu,
        records_per_cpu_sec: if cpu > 0.0 { records as f64 / cpu } else { 0.0 },
        cpu_sec_per_million: cpu / (records as f64 / 1e6),
        peak_rss_mib: rss,
        timeline: sampler.finish(records as i64),
    })
}

fn sluice_generator_config(
    args: &RunArgs,
    authorizations: u64,
) -> sluice_generator::GeneratorConfig {
    sluice_generator::GeneratorConfig {
        cards: args.cards,
        partitions: args.partitions as u32,
        authorizations,
        events_per_second: 12_000,
        ..Default::default()
    }
}
