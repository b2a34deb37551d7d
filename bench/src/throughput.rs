//! `sluice-bench run`: drain throughput and fixed-rate latency of the Sluice worker against the ceiling (a bare
//! transactional identity pipe) and optionally the Flink peer, on the same broker and the same pre-loaded topics.
//! The drain phase is in `throughput_drain.rs`, the result and its Markdown table in `throughput_report.rs`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;

use super::flink::{FlinkRun, ensure_jar};
use super::latency::LatencyLoad;
use super::phases::load_for;
use super::plot::write_plots;
use super::setup::{Setup, machine};
use super::systems::System;
use super::throughput_drain::drains;
use super::throughput_report::{BenchResult, LatencyRatio, print_table};
use sluice_testbed::kafka_admin::job_topics;
use sluice_testbed::{TestBed, TestBedError, unique_name};

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
    /// Transaction commit interval of both systems, in milliseconds (the worker's default `commitInterval`).
    #[arg(long, default_value_t = 25)]
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
    /// Flink checkpoint interval (its exactly-once commit interval), in milliseconds. Default 30000, and
    /// 2000 with --quick (its short phases would otherwise end before Flink's first commit).
    #[arg(long)]
    pub flink_checkpoint_interval_ms: Option<u64>,
    /// Flink JVM heap (-Xmx), MiB.
    #[arg(long, default_value_t = 1024)]
    pub flink_heap_mib: u32,
    /// Length of the kill -9 recovery phase (killed halfway), seconds, at --latency-rate.
    #[arg(long, default_value_t = 60)]
    pub recovery_secs: u64,
    /// Skip the kill -9 recovery phase.
    #[arg(long)]
    pub no_recovery: bool,
    /// Do not draw the PNG plots (latency CDF, throughput over time).
    #[arg(long)]
    pub no_plots: bool,
}

impl RunArgs {
    /// Whether the Flink peer runs: opt-in with --quick, opt-out otherwise.
    fn with_flink(&self) -> bool {
        if self.quick {
            self.flink
        } else {
            !self.no_flink
        }
    }

    /// --quick: caps every size at the harness-proving minimum.
    fn shrink_to_quick(&mut self) {
        self.authorizations = self.authorizations.min(20_000);
        self.cards = self.cards.min(2_000);
        self.latency_rate = self.latency_rate.min(2_000);
        self.latency_secs = self.latency_secs.min(5);
        self.recovery_secs = self.recovery_secs.min(10);
    }
}

pub fn run(mut args: RunArgs) -> Result<(), TestBedError> {
    let with_flink = args.with_flink();
    if args.quick {
        args.shrink_to_quick();
    }
    let flink_ckpt_ms =
        args.flink_checkpoint_interval_ms
            .unwrap_or(if args.quick { 2_000 } else { 30_000 });
    let bed = TestBed::with_kafka()?;
    let dir = sluice_testbed::cache::run_root().join(unique_name("bench"));
    std::fs::create_dir_all(&dir).map_err(|e| TestBedError::Env(e.to_string()))?;
    let setup = Setup {
        bootstrap: bed.kafka_bootstrap().to_string(),
        dir: dir.clone(),
        partitions: args.partitions,
        commit_interval_ms: args.commit_interval_ms,
    };
    let mut result = new_result(&args);
    let flink = if with_flink {
        Some(flink_template(&args, &setup, flink_ckpt_ms)?)
    } else {
        None
    };

    drains(&args, &setup, flink.as_ref(), &mut result)?;
    let fixed_rate = FixedRate {
        args: &args,
        setup: &setup,
        flink: flink.as_ref(),
        flink_ckpt_ms,
    };
    fixed_rate.latencies(&mut result)?;
    if !args.no_recovery {
        fixed_rate.recoveries(&mut result)?;
    }
    finish(&args, &dir, &mut result)
}

/// The result before any phase ran: when, where and with which settings.
fn new_result(args: &RunArgs) -> BenchResult {
    BenchResult {
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        quick: args.quick,
        provenance: sluice_testbed::provenance::Provenance::of_this_run(),
        machine: machine(),
        authorizations: args.authorizations,
        partitions: args.partitions,
        latency_rate: args.latency_rate,
        latency_secs: args.latency_secs,
        commit_interval_ms: args.commit_interval_ms,
        ..Default::default()
    }
}

/// The Flink peer's settings shared by its phases (each phase fills in its own topics); builds the job's jar
/// if it is not cached yet.
fn flink_template(
    args: &RunArgs,
    setup: &Setup,
    checkpoint_interval_ms: u64,
) -> Result<FlinkRun, TestBedError> {
    Ok(FlinkRun {
        jar: ensure_jar(&sluice_testbed::cache::cache_root())?,
        bootstrap: setup.bootstrap.clone(),
        inputs: job_topics("unset"),
        outputs: job_topics("unset"),
        prefix: String::new(),
        parallelism: setup.partitions,
        partitions: setup.partitions,
        checkpoint_interval_ms,
        checkpoint_dir: setup.dir.join("flink-checkpoints"),
        heap_mib: args.flink_heap_mib,
        bounded: false,
        restore_from: None,
    })
}

/// The phases at a fixed input rate: fresh topics per system, system started first, then the load.
struct FixedRate<'a> {
    args: &'a RunArgs,
    setup: &'a Setup,
    flink: Option<&'a FlinkRun>,
    flink_ckpt_ms: u64,
}

impl FixedRate<'_> {
    fn load(&self, system: System, secs: u64) -> LatencyLoad {
        load_for(
            self.setup,
            system,
            self.args.cards,
            self.args.latency_rate,
            secs,
            self.flink_ckpt_ms,
        )
    }

    /// Latency at a fixed rate: the floor (the input topic read back), then each system.
    fn latencies(&self, result: &mut BenchResult) -> Result<(), TestBedError> {
        let args = self.args;
        eprintln!(
            "floor: input topic read back at {}/s for {}s…",
            args.latency_rate, args.latency_secs
        );
        let floor = super::phases::floor_latency(
            self.setup,
            &self.load(System::Ceiling, args.latency_secs),
        )?;
        result.floor_latency = Some(floor.percentiles);
        for system in [System::Ceiling, System::Sluice, System::Flink] {
            if system == System::Flink && self.flink.is_none() {
                continue;
            }
            eprintln!(
                "{}: latency at {}/s for {}s…",
                system.name(),
                args.latency_rate,
                args.latency_secs
            );
            let lat = super::phases::latency(
                self.setup,
                system,
                &self.load(system, args.latency_secs),
                self.flink,
            )?;
            match (system, result.flink.as_mut()) {
                (System::Ceiling, _) => result.ceiling.latency = lat,
                (System::Sluice, _) => result.sluice.latency = lat,
                (System::Flink, Some(f)) => f.latency = Some(lat),
                (System::Flink, None) => {}
            }
        }
        result.sluice_vs_ceiling_latency =
            LatencyRatio::of(&result.sluice.latency, &result.ceiling.latency);
        result.sluice_vs_flink_latency = result
            .flink
            .as_ref()
            .and_then(|f| f.latency.as_ref())
            .map(|f| LatencyRatio::of(&result.sluice.latency, f));
        Ok(())
    }

    /// kill -9 halfway through a fixed-rate phase and restart, for Sluice and Flink.
    fn recoveries(&self, result: &mut BenchResult) -> Result<(), TestBedError> {
        let args = self.args;
        for system in [System::Sluice, System::Flink] {
            if system == System::Flink && self.flink.is_none() {
                continue;
            }
            eprintln!(
                "{}: kill -9 halfway through {}s at {}/s, restart…",
                system.name(),
                args.recovery_secs,
                args.latency_rate
            );
            let rec = super::phases::recovery(
                self.setup,
                system,
                &self.load(system, args.recovery_secs),
                self.flink,
            )?;
            match (system, result.flink.as_mut()) {
                (System::Flink, Some(f)) => f.recovery = Some(rec),
                _ => result.sluice.recovery = Some(rec),
            }
        }
        Ok(())
    }
}

/// Writes the JSON result (and the plots it names unless --no-plots), then prints the table and the paths.
fn finish(args: &RunArgs, dir: &Path, result: &mut BenchResult) -> Result<(), TestBedError> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| dir.join(format!("bench-{}.json", result.unix_time)));
    write_json(&out, result)?;
    if !args.no_plots {
        result.plots = write_plots(&out)?;
        write_json(&out, result)?;
    }
    print_table(result);
    eprintln!("results: {}", out.display());
    for p in &result.plots {
        eprintln!("plot: {p}");
    }
    Ok(())
}

fn write_json(out: &Path, result: &BenchResult) -> Result<(), TestBedError> {
    let json =
        serde_json::to_string_pretty(result).map_err(|e| TestBedError::Env(e.to_string()))?;
    std::fs::write(out, &json)
        .map_err(|e| TestBedError::Env(format!("writing {}: {e}", out.display())))
}
