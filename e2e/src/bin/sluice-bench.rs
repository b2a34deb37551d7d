//! `sluice-bench`: measures the Sluice worker against the ceiling (a bare transactional identity pipe) and
//! against the Apache Flink peer of the job (`e2e/bench/flink-fraud`), on the same broker and the same
//! pre-loaded topics, in one run. Writes a JSON result file and prints a table.
//!
//!   sluice-bench run [--quick] [--flink | --no-flink] [--authorizations N] [--latency-rate R]
//!                    [--latency-secs S] [--out FILE]
//!   sluice-bench pipe ...        (internal: the ceiling process)

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::Serialize;
use sluice_e2e::bench::compare::{DecisionComparison, compare_decisions};
use sluice_e2e::bench::flink::{FlinkRun, ensure_jar};
use sluice_e2e::bench::pipe::{PipeConfig, run_pipe};
use sluice_e2e::bench::procstat::{cpu_seconds, peak_rss_kib};
use sluice_e2e::bench::stats::{Percentiles, percentiles};
use sluice_e2e::binaries::terminate;
use sluice_e2e::kafka_admin::{create_job_topics, create_topics, group_lag, job_topics};
use sluice_e2e::process::ManagedProcess;
use sluice_e2e::{TestBed, TestBedError, unique_name};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Run(RunArgs),
    Pipe(PipeArgs),
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Small sizes: proves the harness works (used by the test suite); numbers are not meaningful.
    #[arg(long)]
    quick: bool,
    #[arg(long, default_value_t = 5_000_000)]
    authorizations: u64,
    #[arg(long, default_value_t = 1_000_000)]
    cards: u64,
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Input records per second during the latency phase.
    #[arg(long, default_value_t = 12_000)]
    latency_rate: u32,
    #[arg(long, default_value_t = 180)]
    latency_secs: u64,
    /// Transaction commit interval of both systems, in milliseconds.
    #[arg(long, default_value_t = 100)]
    commit_interval_ms: u64,
    /// Result file (JSON). Default: target dir `bench-results/<unix time>.json`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also drain the pre-loaded topics with the Flink peer (default for full runs; opt-in with --quick).
    #[arg(long, conflicts_with = "no_flink")]
    flink: bool,
    /// Skip the Flink peer.
    #[arg(long)]
    no_flink: bool,
    /// Flink checkpoint interval (its exactly-once commit interval), in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    flink_checkpoint_interval_ms: u64,
    /// Flink JVM heap (-Xmx), MiB.
    #[arg(long, default_value_t = 1024)]
    flink_heap_mib: u32,
}

#[derive(Args)]
struct PipeArgs {
    #[arg(long)]
    bootstrap: String,
    #[arg(long, value_delimiter = ',')]
    inputs: Vec<String>,
    #[arg(long)]
    output: String,
    #[arg(long)]
    partitions: i32,
    #[arg(long)]
    group: String,
    #[arg(long)]
    txn_id: String,
    #[arg(long, default_value_t = 100)]
    commit_interval_ms: u64,
}

#[derive(Debug, Default, Serialize)]
struct Drain {
    records: u64,
    seconds: f64,
    records_per_sec: f64,
    cpu_seconds: f64,
    records_per_cpu_sec: f64,
    cpu_sec_per_million: f64,
    peak_rss_mib: f64,
}

#[derive(Debug, Default, Serialize)]
struct SystemResult {
    drain: Drain,
    latency: Percentiles,
}

/// The Flink peer's drain, its outputs and how its decisions compare with Sluice's.
#[derive(Debug, Default, Serialize)]
struct FlinkResult {
    drain: Drain,
    parallelism: i32,
    checkpoint_interval_ms: u64,
    heap_mib: u32,
    /// How the end of the drain was detected.
    ended_by: String,
    drain_decisions: i64,
    drain_late: i64,
    drain_dlq: i64,
    /// Sluice = A, Flink = B.
    decisions_vs_sluice: DecisionComparison,
}

#[derive(Debug, Default, Serialize)]
struct BenchResult {
    unix_time: u64,
    quick: bool,
    machine: String,
    authorizations: u64,
    input_records: u64,
    partitions: i32,
    latency_rate: u32,
    latency_secs: u64,
    commit_interval_ms: u64,
    sluice: SystemResult,
    ceiling: SystemResult,
    sluice_vs_ceiling_throughput: f64,
    /// Output counts of the Sluice drain: a drain that routes records to `late` is not doing the real work.
    sluice_drain_decisions: i64,
    sluice_drain_late: i64,
    sluice_drain_dlq: i64,
    flink: Option<FlinkResult>,
    /// Sluice drain records/s ÷ Flink's, and the same per CPU-second (None without Flink).
    sluice_vs_flink_throughput: Option<f64>,
    sluice_vs_flink_per_cpu: Option<f64>,
    /// Sluice peak RSS ÷ Flink's.
    sluice_vs_flink_rss: Option<f64>,
}

/// Sum of the high watermarks of `topic` partitions (records written, including aborted ones and markers).
fn topic_size(bootstrap: &str, topic: &str, partitions: i32) -> i64 {
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

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Pipe(a) => pipe_main(a),
        Cmd::Run(a) => match run(a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sluice-bench: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn pipe_main(a: PipeArgs) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop));
    let cfg = PipeConfig {
        bootstrap: a.bootstrap,
        inputs: a.inputs,
        output: a.output,
        partitions: a.partitions,
        group: a.group,
        transactional_id: a.txn_id,
        commit_interval: Duration::from_millis(a.commit_interval_ms),
        commit_max_records: 10_000,
    };
    match run_pipe(&cfg, stop) {
        Ok(n) => {
            eprintln!("pipe copied {n} records");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn sibling(name: &str) -> Result<PathBuf, TestBedError> {
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

struct Setup {
    bootstrap: String,
    dir: PathBuf,
    partitions: i32,
    commit_interval_ms: u64,
}

impl Setup {
    fn worker_config(
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
        let text = serde_yaml::to_string(&cfg).map_err(|e| TestBedError::Env(e.to_string()))?;
        std::fs::write(&path, text).map_err(|e| TestBedError::Env(e.to_string()))?;
        Ok(path)
    }

    fn spawn_worker(&self, config: &Path, log: &str) -> Result<ManagedProcess, TestBedError> {
        let mut cmd = Command::new(sibling("sluice-worker")?);
        cmd.arg(config)
            .env("RUST_LOG", "warn")
            .env("SLUICE_CONTROL_ADDR", "127.0.0.1:0")
            .env("SLUICE_METRICS_ADDR", "127.0.0.1:0");
        ManagedProcess::spawn("sluice-worker", cmd, &self.dir.join(log))
    }

    fn spawn_pipe(
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

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
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
    let jar = ensure_jar(&sluice_e2e::cache::cache_root())?;
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

fn run(mut args: RunArgs) -> Result<(), TestBedError> {
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
    let dir = sluice_e2e::cache::run_root().join(unique_name("bench"));
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

fn print_table(r: &BenchResult) {
    let flink = r.flink.as_ref();
    println!(
        "\n| metric | Sluice | ceiling (identity pipe) | Sluice/ceiling | Flink | Sluice/Flink |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let row = |name: &str, s: f64, c: f64, f: Option<f64>| {
        let (fv, ratio) = match f {
            Some(f) => (format!("{f:.1}"), format!("{:.2}", s / f.max(1e-9))),
            None => ("–".to_string(), "–".to_string()),
        };
        println!(
            "| {name} | {s:.1} | {c:.1} | {:.2} | {fv} | {ratio} |",
            s / c.max(1e-9)
        )
    };
    let (s, c) = (&r.sluice.drain, &r.ceiling.drain);
    let fd = flink.map(|f| &f.drain);
    row(
        "drain records/s",
        s.records_per_sec,
        c.records_per_sec,
        fd.map(|d| d.records_per_sec),
    );
    row(
        "records per CPU-second",
        s.records_per_cpu_sec,
        c.records_per_cpu_sec,
        fd.map(|d| d.records_per_cpu_sec),
    );
    row(
        "CPU s per million records",
        s.cpu_sec_per_million,
        c.cpu_sec_per_million,
        fd.map(|d| d.cpu_sec_per_million),
    );
    row(
        "peak RSS MiB",
        s.peak_rss_mib,
        c.peak_rss_mib,
        fd.map(|d| d.peak_rss_mib),
    );
    let (sl, cl) = (&r.sluice.latency, &r.ceiling.latency);
    row("latency p50 ms", sl.p50_ms, cl.p50_ms, None);
    row("latency p99 ms", sl.p99_ms, cl.p99_ms, None);
    row("latency p99.9 ms", sl.p999_ms, cl.p999_ms, None);
    if let Some(f) = flink {
        let d = &f.decisions_vs_sluice;
        println!(
            "\ndecisions: Sluice {} / Flink {}; both decided {}; equal {} ({:.4}); mismatched {}; \
             Sluice-only {} (Flink late {}), Flink-only {} (Sluice late {}); late records Sluice {} / Flink {}; \
             all differences explained: {}",
            d.a_decisions,
            d.b_decisions,
            d.both_decided,
            d.equal,
            d.equal_share(),
            d.mismatched,
            d.a_only_b_late + d.a_only_unexplained,
            d.a_only_b_late,
            d.b_only_a_late + d.b_only_unexplained,
            d.b_only_a_late,
            d.a_late,
            d.b_late,
            d.explained()
        );
        for (reason, n) in &d.mismatch_reasons {
            println!("  mismatch: {n} × {reason}");
        }
    }
}
