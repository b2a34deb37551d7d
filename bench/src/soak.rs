//! The soak (`sluice-bench soak`): the fraud job under steady load for a long time (an hour by default) with
//! a worker killed every few minutes, to show what the short tests cannot — memory that creeps up, lag that
//! does not come back down, checkpoints that slow down as the state ages — and that exactly-once still holds
//! at the end. Not part of CI.
//!
//! Two workers split the partitions, on the real broker and the real S3 server, with the worker's default
//! settings (the checkpoint interval can be changed). Worker 0 runs the whole soak: its RSS is the leak check.
//! Worker 1 is SIGKILLed every `--kill-every-secs` and restarted at once, every other time without its local
//! state directory (a lost disk: the restart restores from S3). Every `--sample-secs` the soak records each
//! worker's RSS and the caches inside it (block cache, table readers, read cache), the group's lag, the
//! checkpoints completed and the bytes they uploaded since the last sample, and the objects in the checkpoint
//! store. When the load ends it waits for the lag to reach 0, stops both workers with SIGTERM (a clean exit is
//! required) and runs `sluice verify`, the independent oracle. Any duplicate, loss or mismatch, or a worker
//! that dies on its own, fails the command.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use sluice_generator::{Generator, GeneratorConfig};
use sluice_testbed::binaries::terminate;
use sluice_testbed::job_harness::JobHarness;
use sluice_testbed::{TestBed, TestBedError, unique_name};

use super::soak_report::{Kill, Sample, SoakConfig, SoakResult};
use super::soak_slot::Slot;
use super::soak_store::StoreCensus;

#[derive(Args, Debug, Clone)]
pub struct SoakArgs {
    /// How long the load runs, minutes.
    #[arg(long, default_value_t = 60)]
    pub minutes: u64,
    /// Input records per second, over the three input topics together.
    #[arg(long, default_value_t = 12_000)]
    pub rate: u32,
    /// Seconds between two kills of worker 1.
    #[arg(long, default_value_t = 180)]
    pub kill_every_secs: u64,
    /// Seconds between two samples of RSS, lag and checkpoints.
    #[arg(long, default_value_t = 10)]
    pub sample_secs: u64,
    /// Seconds between two checkpoints of each worker (the worker's default: 30).
    #[arg(long, default_value_t = 30)]
    pub checkpoint_interval_secs: u64,
    /// The generator's event-time rate (records per event-time second). Default: the rate ÷ 2,000, so
    /// event time runs about 2,000 times faster than the wall clock: at the default rate the 30-day windows
    /// roll over after about 22 minutes and the 45-day state TTL after about 32, and the state reaches its
    /// steady size within a 60-minute soak — a leak then shows as memory growing while the state does not.
    #[arg(long)]
    pub event_rate: Option<u32>,
    /// Distinct cards (the keyed state's size).
    #[arg(long, default_value_t = 100_000)]
    pub cards: u64,
    /// The result file (JSON; a name ending in `.soak.json` is what scripts/reliability-table.py renders);
    /// the plot goes next to it.
    #[arg(long, default_value = "result.soak.json")]
    pub out: PathBuf,
    /// Skip the plot (it needs the matplotlib venv).
    #[arg(long)]
    pub no_plots: bool,
}

pub(super) const PARTITIONS: i32 = 4;
/// How long the workers get to commit the last input after the load ends.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

pub(super) fn soak_err(what: impl std::fmt::Display) -> TestBedError {
    TestBedError::Env(format!("soak: {what}"))
}

/// How many authorizations make `target` records of the generator's output (telemetry and account changes
/// ride along). The generator also writes records once per card as cards first appear, so the ratio is taken
/// at the margin, between two samples long enough for every card to have appeared, plus that fixed part: a
/// plain records ÷ authorizations of a short sample over-counts a run with many cards more than twofold.
fn authorizations_for(cfg: &GeneratorConfig, target: f64) -> u64 {
    let count = |authorizations: u64| {
        Generator::new(GeneratorConfig {
            authorizations,
            ..cfg.clone()
        })
        .count() as f64
    };
    let a1 = (4 * cfg.cards).max(50_000);
    let (n1, n2) = (count(a1), count(2 * a1));
    let per_auth = ((n2 - n1) / a1 as f64).max(1.0);
    let fixed = (n1 - per_auth * a1 as f64).max(0.0);
    ((target - fixed).max(per_auth) / per_auth).ceil() as u64
}

/// The job on a fresh bucket of the bed's S3 server, with the worker's default settings but for the
/// checkpoint interval, and a census of its checkpoint store.
fn harness(
    bed: &TestBed,
    dir: &std::path::Path,
    checkpoint_secs: u64,
) -> Result<(JobHarness, StoreCensus), TestBedError> {
    let yaml = format!("state:\n  checkpointInterval: {checkpoint_secs}s\n");
    let mut h = JobHarness::new(bed.kafka_bootstrap(), dir, PARTITIONS, &yaml)?;
    let bucket = unique_name("soak");
    let endpoint = bed.s3_endpoint().to_string();
    let census = StoreCensus::new(&endpoint, &bucket, "store/")?;
    census.create_bucket()?;
    h.with_store(&format!("s3://{bucket}/store"), Some(&endpoint));
    Ok((h, census))
}

pub fn run_soak(args: SoakArgs) -> Result<(), TestBedError> {
    let started = Instant::now();
    let bed = TestBed::with_kafka_and_s3()?;
    let dir = std::env::temp_dir().join(unique_name("soak"));
    let (h, census) = harness(&bed, &dir, args.checkpoint_interval_secs)?;
    let generator = GeneratorConfig {
        seed: 20_261_206,
        cards: args.cards,
        partitions: PARTITIONS as u32,
        events_per_second: args.event_rate.unwrap_or((args.rate / 2_000).max(1)),
        ..GeneratorConfig::default()
    };
    let target = args.rate as f64 * args.minutes as f64 * 60.0;
    let generator = GeneratorConfig {
        authorizations: authorizations_for(&generator, target),
        ..generator
    };
    let config = SoakConfig::new(&args, PARTITIONS, &generator);
    eprintln!("soak: {config:?}; logs in {}", dir.display());

    let produced = Arc::new(AtomicU64::new(0));
    let producer = {
        let (bootstrap, topics) = (h.bootstrap.clone(), h.job.topics.clone());
        let (produced, rate) = (Arc::clone(&produced), args.rate);
        std::thread::spawn(move || {
            sluice_cli::produce::produce(&bootstrap, &topics, generator, rate, |n| {
                produced.store(n, Ordering::Relaxed)
            })
        })
    };
    let mut slots = vec![Slot::start(&h, 0)?, Slot::start(&h, 1)?];
    let mut run = Run {
        h: &h,
        census: &census,
        args: &args,
        started: Instant::now(),
        produced,
        samples: Vec::new(),
        kills: Vec::new(),
        last_sample: None,
    };
    run.under_load(&mut slots, || producer.is_finished())?;
    let summary = producer
        .join()
        .map_err(|_| soak_err("the producer thread panicked"))?
        .map_err(|e| soak_err(format_args!("producing the load: {e}")))?;
    run.produced.store(summary.records, Ordering::Relaxed);
    run.drain(&mut slots)?;
    stop(slots)?;
    eprintln!("soak: verifying {} input records…", summary.records);
    let report = h.verify().map_err(soak_err)?;
    let result = SoakResult::new(config, run.samples, run.kills, &report, started.elapsed());
    let json = serde_json::to_string_pretty(&result).map_err(soak_err)?;
    std::fs::write(&args.out, json + "\n").map_err(TestBedError::io("writing the result"))?;
    eprintln!("soak: result in {}", args.out.display());
    if !args.no_plots {
        for p in super::plot::write_soak_plot(&args.out)? {
            eprintln!("soak: plot {p}");
        }
    }
    println!("{}", result.summary());
    if !report.ok() {
        return Err(soak_err(format_args!(
            "exactly-once violated: {:?}",
            report.failures()
        )));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The sampling and kill loop's state.
struct Run<'a> {
    h: &'a JobHarness,
    census: &'a StoreCensus,
    args: &'a SoakArgs,
    started: Instant,
    produced: Arc<AtomicU64>,
    samples: Vec<Sample>,
    kills: Vec<Kill>,
    last_sample: Option<Instant>,
}

impl Run<'_> {
    /// Samples and kills on schedule until `load_done`.
    fn under_load(
        &mut self,
        slots: &mut [Slot],
        load_done: impl Fn() -> bool,
    ) -> Result<(), TestBedError> {
        let every = Duration::from_secs(self.args.kill_every_secs.max(1));
        let mut next_kill = self.started + every;
        while !load_done() {
            for s in slots.iter_mut() {
                s.check_alive()?;
            }
            if Instant::now() >= next_kill {
                let lose_disk = self.kills.len() % 2 == 1;
                slots[1].kill_and_restart(self.h, lose_disk)?;
                self.kills.push(Kill {
                    t_secs: self.started.elapsed().as_secs_f64(),
                    lost_disk: lose_disk,
                });
                next_kill += every;
            }
            self.maybe_sample(slots);
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// Samples on schedule until the group has committed every input record.
    fn drain(&mut self, slots: &mut [Slot]) -> Result<(), TestBedError> {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while !matches!(self.h.lag(), Ok(0)) {
            for s in slots.iter_mut() {
                s.check_alive()?;
            }
            if Instant::now() > deadline {
                return Err(soak_err(format_args!(
                    "the input was not consumed {DRAIN_TIMEOUT:?} after the load ended"
                )));
            }
            self.maybe_sample(slots);
            std::thread::sleep(Duration::from_millis(500));
        }
        self.last_sample = None;
        self.maybe_sample(slots);
        Ok(())
    }

    fn maybe_sample(&mut self, slots: &mut [Slot]) {
        let period = Duration::from_secs(self.args.sample_secs.max(1));
        if self.last_sample.is_some_and(|t| t.elapsed() < period) {
            return;
        }
        self.last_sample = Some(Instant::now());
        let store = self.census.count();
        let mut sample = Sample {
            t_secs: self.started.elapsed().as_secs_f64(),
            produced: self.produced.load(Ordering::Relaxed),
            lag: self.h.lag().ok(),
            store_objects: store.map(|(objects, _)| objects),
            store_mib: store.map(|(_, bytes)| bytes as f64 / (1024.0 * 1024.0)),
            ..Sample::default()
        };
        for s in slots.iter_mut() {
            let read = s.sample();
            sample.rss_mib.push(read.rss);
            sample.state_mib.push(read.state);
            sample.checkpoints.push(read.checkpoints);
            sample.checkpoint_mean_ms.push(read.checkpoint_mean_ms);
            sample.uploaded_mib.push(read.uploaded);
            sample.block_cache_mib.push(read.block_cache);
            sample.table_readers_mib.push(read.table_readers);
            sample.read_cache_mib.push(read.read_cache);
        }
        self.samples.push(sample);
    }
}

/// SIGTERM both workers; each must exit cleanly.
fn stop(slots: Vec<Slot>) -> Result<(), TestBedError> {
    for s in &slots {
        terminate(s.worker.process.pid());
    }
    for mut s in slots {
        let status = s.worker.process.wait_exit(Duration::from_secs(60));
        if !status.is_some_and(|st| st.success()) {
            return Err(soak_err(format_args!(
                "worker {} did not stop cleanly ({status:?}): {}",
                s.spec.identity,
                s.worker.process.log_tail(40)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_is_sized_in_records_not_authorizations() {
        // Many cards against a short run: the once-per-card records are a large share of the output.
        let cfg = GeneratorConfig {
            cards: 20_000,
            ..GeneratorConfig::default()
        };
        for target in [150_000.0, 600_000.0] {
            let authorizations = authorizations_for(&cfg, target);
            let records = Generator::new(GeneratorConfig {
                authorizations,
                ..cfg.clone()
            })
            .count() as f64;
            assert!(
                (records - target).abs() / target < 0.02,
                "{authorizations} authorizations give {records} records, not {target}"
            );
        }
    }
}
