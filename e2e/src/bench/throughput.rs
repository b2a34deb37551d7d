//! `sluice-bench run`: drain throughput and fixed-rate latency of the Sluice worker against the ceiling (a bare
//! transactional identity pipe) and optionally the Flink peer, on the same broker and the same pre-loaded topics.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::compare::compare_decisions;
use super::flink::{FlinkRun, ensure_jar};
use super::procstat::{cpu_seconds, peak_rss_kib};
use super::setup::{Setup, machine, topic_size};
use super::stats::{Percentiles, percentiles};
use super::throughput_report::{BenchResult, Drain, FlinkResult, print_table};
use crate::binaries::terminate;
use crate::kafka_admin::{create_job_topics, create_topics, group_lag, job_topics};
use crate::process::ManagedProcess;
use crate::{TestBed, TestBedError, unique_name};

#[derive(Args, Clone)]
pub struct RunArgs {
    /// Small sizes: proves the harness works (used by the test suite); numbers are not meaningful.
    #[arg(long)]
    pub quick: bool,
    #[arg(long, default_value_t = 5_000_000)]
    pub authorizations: u64,
    #[arg(long, default_value_t = 1_000_000)]
    pub cards: u64,
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Input records per second during the latency phase.
    #[arg(long, default_value_t = 12_000)]
    pub latency_rate: u32,
    #[arg(long, default_value_t = 180)]
    pub latency_secs: u64,
    /// Transaction commit interval of both systems, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub commit_interval_ms: u64,
    /// Result file (JSON). Default: target dir `bench-results/<unix time>.json`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also drain the pre-loaded topics with the Flink peer (default for full runs; opt-in with --quick).
    #[arg(long, conflicts_with = "no_flink")]
    pub flink: bool,
    /// Skip the Flink peer.
    #[arg(long)]
    pub no_flink: bool,
    /// Flink checkpoint interval (its exactly-once commit interval), in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub flink_checkpoint_interval_ms: u64,
    /// Flink JVM heap (-Xmx), MiB.
    #[arg(long, default_value_t = 1024)]
    pub flink_heap_mib: u32,
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
    loop {
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
    })
}

/// Produces at `rate` for `secs` while reading `output` read_committed; latency = read time − record timestamp.
fn latency(
    setup: &Setup,
    topics: &sluice_crds::job_config::TopicsConfig,
    output: &str,
    args: &RunArgs,
) -> Result<Percentiles, TestBedError> {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &setup.bootstrap)
        .set("group.id", unique_name("latency-reader"))
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "5")
        .create()
        .map_err(|e| TestBedError::Env(format!("reader: {e}")))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..setup.partitions {
        tpl.add_partition_offset(output, p, Offset::Beginning)
            .map_err(|e| TestBedError::Env(e.to_string()))?;
    }
    reader
        .assign(&tpl)
        .map_err(|e| TestBedError::Env(e.to_string()))?;
    let bootstrap = setup.bootstrap.clone();
    let topics_c = topics.clone();
    let generator = sluice_runtime_generator(args, args.latency_rate as u64 * args.latency_secs);
    let rate = args.latency_rate;
    let done = Arc::new(AtomicBool::new(false));
    let done_c = Arc::clone(&done);
    let producer = std::thread::spawn(move || {
        let r = sluice_runtime::produce::produce(&bootstrap, &topics_c, generator, rate, |_| {});
        done_c.store(true, Ordering::Relaxed);
        r
    });
    let mut samples = Vec::new();
    let mut quiet_since: Option<Instant> = None;
    loop {
        match reader.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                quiet_since = None;
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                if let Some(ts) = m.timestamp().to_millis() {
                    samples.push((now - ts) as f64);
                }
            }
            Some(Err(e)) => return Err(TestBedError::Env(format!("latency reader: {e}"))),
            None => {
                if done.load(Ordering::Relaxed) {
                    let q = quiet_since.get_or_insert_with(Instant::now);
                    if q.elapsed() > Duration::from_secs(3) {
                        break;
                    }
                }
            }
        }
    }
    producer
        .join()
        .map_err(|_| TestBedError::Env("producer thread panicked".into()))?
        .map_err(|e| TestBedError::Env(e.to_string()))?;
    Ok(percentiles(&mut samples))
}

fn sluice_runtime_generator(
    args: &RunArgs,
    authorizations: u64,
) -> sluice_runtime::generator::GeneratorConfig {
    sluice_runtime::generator::GeneratorConfig {
        cards: args.cards,
        partitions: args.partitions as u32,
        authorizations,
        events_per_second: 12_000,
        ..Default::default()
    }
}

/// Drains the pre-loaded topics with the Flink peer (outputs to `<prefix>-flink-*`) and compares its
/// decisions with Sluice's.
fn flink_drain(
    setup: &Setup,
    topics: &sluice_crds::job_config::TopicsConfig,
    prefix: &str,
    args: &RunArgs,
    records: u64,
) -> Result<FlinkResult, TestBedError> {
    let jar = ensure_jar(&crate::cache::cache_root())?;
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
        jar,
        bootstrap: setup.bootstrap.clone(),
        inputs: topics.clone(),
        outputs: outputs.clone(),
        prefix: format!("{prefix}-flink"),
        parallelism: setup.partitions,
        partitions: setup.partitions,
        checkpoint_interval_ms: args.flink_checkpoint_interval_ms,
        checkpoint_dir: setup.dir.join("flink-checkpoints"),
        heap_mib: args.flink_heap_mib,
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
    })
}

pub fn run(mut args: RunArgs) -> Result<(), TestBedError> {
    let with_flink = if args.quick {
        args.flink
    } else {
        !args.no_flink
    };
    if args.quick {
        args.authorizations = args.authorizations.min(20_000);
        args.cards = args.cards.min(2_000);
        args.latency_rate = args.latency_rate.min(2_000);
        args.latency_secs = args.latency_secs.min(5);
    }
    let bed = TestBed::with_kafka()?;
    let dir = crate::cache::run_root().join(unique_name("bench"));
    std::fs::create_dir_all(&dir).map_err(|e| TestBedError::Env(e.to_string()))?;
    let setup = Setup {
        bootstrap: bed.kafka_bootstrap().to_string(),
        dir: dir.clone(),
        partitions: args.partitions,
        commit_interval_ms: args.commit_interval_ms,
    };
    let mut result = BenchResult {
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        quick: args.quick,
        machine: machine(),
        authorizations: args.authorizations,
        partitions: args.partitions,
        latency_rate: args.latency_rate,
        latency_secs: args.latency_secs,
        commit_interval_ms: args.commit_interval_ms,
        ..Default::default()
    };

    // Throughput: one set of pre-loaded topics, drained by the ceiling pipe, then by Sluice.
    let prefix = unique_name("bench");
    let topics = job_topics(&prefix);
    create_job_topics(&setup.bootstrap, &topics, setup.partitions)?;
    let pipe_out = format!("{prefix}-pipe-out");
    create_topics(&setup.bootstrap, &[&pipe_out], setup.partitions)?;
    eprintln!("preloading {} authorizations…", args.authorizations);
    let produced = sluice_runtime::produce::produce(
        &setup.bootstrap,
        &topics,
        sluice_runtime_generator(&args, args.authorizations),
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
    result.ceiling.drain = drain(&setup, p, &group, &inputs, produced.records, started)?;

    eprintln!("sluice: draining the same records through one worker…");
    let config = setup.worker_config(&prefix, &topics)?;
    let started = Instant::now();
    let w = setup.spawn_worker(&config, "worker-drain.log")?;
    result.sluice.drain = drain(&setup, w, &prefix, &inputs, produced.records, started)?;
    result.sluice_drain_decisions =
        topic_size(&setup.bootstrap, &topics.decisions, setup.partitions);
    result.sluice_drain_late = topic_size(&setup.bootstrap, &topics.late, setup.partitions);
    result.sluice_drain_dlq = topic_size(&setup.bootstrap, &topics.dlq, setup.partitions);

    if with_flink {
        eprintln!("flink: draining the same records through the Flink peer…");
        let f = flink_drain(&setup, &topics, &prefix, &args, produced.records)?;
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

    // Latency at a fixed rate: fresh topics per system, system started first, then the load.
    for system in ["ceiling", "sluice"] {
        eprintln!(
            "{system}: latency at {}/s for {}s…",
            args.latency_rate, args.latency_secs
        );
        let prefix = unique_name("lat");
        let topics = job_topics(&prefix);
        create_job_topics(&setup.bootstrap, &topics, setup.partitions)?;
        let inputs = [
            topics.authorizations.as_str(),
            topics.device_telemetry.as_str(),
            topics.account_changes.as_str(),
        ];
        let (mut proc, output) = if system == "sluice" {
            let config = setup.worker_config(&prefix, &topics)?;
            (
                setup.spawn_worker(&config, "worker-latency.log")?,
                topics.decisions.clone(),
            )
        } else {
            let out = format!("{prefix}-pipe-out");
            create_topics(&setup.bootstrap, &[&out], setup.partitions)?;
            (
                setup.spawn_pipe(&inputs, &out, &format!("{prefix}-pipe"), "pipe-latency.log")?,
                out,
            )
        };
        std::thread::sleep(Duration::from_secs(3)); // let it finish start-up (init_transactions, recovery)
        proc.check_alive()?;
        let pct = latency(&setup, &topics, &output, &args)?;
        terminate(proc.pid());
        proc.wait_exit(Duration::from_secs(60));
        if system == "sluice" {
            result.sluice.latency = pct
        } else {
            result.ceiling.latency = pct
        }
    }
    result.sluice_vs_ceiling_throughput =
        result.sluice.drain.records_per_sec / result.ceiling.drain.records_per_sec.max(1e-9);

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| dir.join(format!("bench-{}.json", result.unix_time)));
    let json =
        serde_json::to_string_pretty(&result).map_err(|e| TestBedError::Env(e.to_string()))?;
    std::fs::write(&out, &json)
        .map_err(|e| TestBedError::Env(format!("writing {}: {e}", out.display())))?;
    println!("{json}");
    print_table(&result);
    eprintln!("results: {}", out.display());
    Ok(())
}
