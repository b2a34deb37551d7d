//! The fixed-rate latency phase, the same for every system: the generator appends input at a fixed rate
//! while a read_committed reader of the system's output measures *read time − input record timestamp*
//! (every system copies its input record's timestamp to its outputs).
//!
//! Only inputs appended during the measured window count: `secs` seconds after a `warmup`. The warm-up keeps
//! the clients' start (the load producer's connection and producer id, the reader's first offset lookup and
//! fetch) out of the numbers; without it the first second's inputs waited for the reader to start and made
//! up the whole p99 even with nothing between input and output. The generator then keeps producing for a `tail`: a system that holds records back until later input arrives (Flink
//! buffers each card's events until its watermark, 5 s of event time, has passed them) needs that later
//! input to release the window's last records, and without it they would never be measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::Serialize;
use sluice_cli::produce::ProduceSummary;
use sluice_crds::job_config::TopicsConfig;
use sluice_generator::GeneratorConfig;
use sluice_worker::kafka::KafkaOpError;

use super::stats::{Percentiles, percentiles};
use sluice_testbed::{TestBedError, unique_name};

/// The load and the reader's patience for one system.
#[derive(Debug, Clone)]
pub struct LatencyLoad {
    pub bootstrap: String,
    pub partitions: i32,
    pub cards: u64,
    /// Input records per second (all three topics together).
    pub rate: u32,
    /// Produced but not measured, before the window.
    pub warmup: Duration,
    /// The measured window.
    pub secs: u64,
    /// Extra load after the window that pushes its last records through (not measured).
    pub tail: Duration,
    /// After the generator stops: how long without a new output record ends the phase.
    pub quiet: Duration,
}

/// What one phase measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyResult {
    #[serde(flatten)]
    pub percentiles: Percentiles,
    /// Input records appended in the window + tail.
    pub produced_records: u64,
    /// Wall-clock end of the measured window (Unix ms): inputs stamped up to here count.
    pub window_end_ms: i64,
    /// The latency distribution for the CDF plot: (quantile, ms) pairs.
    pub cdf: Vec<(f64, f64)>,
}

fn env_err(what: impl std::fmt::Display) -> TestBedError {
    TestBedError::Env(format!("latency phase: {what}"))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The generator of a fixed-rate phase. Its virtual clock runs at the production rate, so event time moves
/// as fast as wall time: a system that waits for event time (Flink's watermark) waits as long as it would on
/// live traffic.
pub fn generator(cards: u64, partitions: i32, rate: u32, authorizations: u64) -> GeneratorConfig {
    GeneratorConfig {
        cards,
        partitions: partitions as u32,
        authorizations,
        events_per_second: rate.max(1),
        ..Default::default()
    }
}

/// The wall-clock end of the measured window, set by the producer thread (0 = not started).
struct Window {
    start_ms: AtomicI64,
}

/// Produces at the load's rate into `inputs` while reading `output`; returns the window's latencies.
/// `during` is called about every 100 ms while the phase runs (the recovery phase kills and restarts the
/// system from it); it gets the elapsed time since production started.
pub fn run_phase(
    load: &LatencyLoad,
    inputs: &TopicsConfig,
    output: &str,
    mut during: impl FnMut(Duration) -> Result<(), TestBedError>,
) -> Result<LatencyResult, TestBedError> {
    let reader = output_reader(load, output)?;
    let window = Arc::new(Window {
        start_ms: AtomicI64::new(0),
    });
    let done = Arc::new(AtomicBool::new(false));
    let producer = spawn_load(load, inputs, Arc::clone(&window), Arc::clone(&done));
    let warmup_ms = i64::try_from(load.warmup.as_millis()).unwrap_or(0);
    let window_ms = warmup_ms + i64::try_from(load.secs).unwrap_or(0) * 1000;
    let started = Instant::now();
    let mut last_tick = Instant::now();
    let mut samples = Vec::new();
    let mut quiet_since: Option<Instant> = None;
    loop {
        if last_tick.elapsed() >= Duration::from_millis(100) {
            last_tick = Instant::now();
            during(started.elapsed())?;
        }
        match reader.poll(Duration::from_millis(50)) {
            Some(Ok(m)) => {
                quiet_since = None;
                let read_at = now_ms();
                let start = window.start_ms.load(Ordering::Relaxed);
                if let Some(ts) = m.timestamp().to_millis()
                    && ts >= start + warmup_ms
                    && ts <= start + window_ms
                {
                    samples.push((read_at - ts) as f64);
                }
            }
            Some(Err(e)) => return Err(env_err(format_args!("reader: {e}"))),
            None => {
                if done.load(Ordering::Relaxed)
                    && quiet_since.get_or_insert_with(Instant::now).elapsed() > load.quiet
                {
                    break;
                }
            }
        }
    }
    let produced = producer
        .join()
        .map_err(|_| env_err("producer thread panicked"))?
        .map_err(env_err)?;
    let pct = percentiles(&mut samples);
    Ok(LatencyResult {
        percentiles: pct,
        produced_records: produced.records,
        window_end_ms: window.start_ms.load(Ordering::Relaxed) + window_ms,
        cdf: cdf_points(&samples),
    })
}

/// A read_committed reader of every partition of `output`, from the beginning.
fn output_reader(load: &LatencyLoad, output: &str) -> Result<BaseConsumer, TestBedError> {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &load.bootstrap)
        .set("group.id", unique_name("latency-reader"))
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "5")
        .create()
        .map_err(|e| env_err(format_args!("reader: {e}")))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..load.partitions {
        tpl.add_partition_offset(output, p, Offset::Beginning)
            .map_err(env_err)?;
    }
    reader.assign(&tpl).map_err(env_err)?;
    Ok(reader)
}

/// Starts the generator on its own thread, producing the warm-up, the window and the tail at the load's rate
/// into `inputs`; it stamps `window` when it starts and sets `done` when it has produced everything.
fn spawn_load(
    load: &LatencyLoad,
    inputs: &TopicsConfig,
    window: Arc<Window>,
    done: Arc<AtomicBool>,
) -> JoinHandle<Result<ProduceSummary, KafkaOpError>> {
    let total_secs = load.warmup.as_secs_f64() + load.secs as f64 + load.tail.as_secs_f64();
    // The generator's count is authorizations; the other topics come on top (about a fifth more).
    let authorizations = (f64::from(load.rate) * total_secs / 1.2).ceil() as u64;
    let gen_cfg = generator(load.cards, load.partitions, load.rate, authorizations);
    let (bootstrap, topics, rate) = (load.bootstrap.clone(), inputs.clone(), load.rate);
    std::thread::spawn(move || {
        window.start_ms.store(now_ms(), Ordering::Relaxed);
        let r = sluice_cli::produce::produce(&bootstrap, &topics, gen_cfg, rate, |_| {});
        done.store(true, Ordering::Relaxed);
        r
    })
}

/// (quantile, value) pairs of sorted `samples`: every percent, then every 0.1 % above p99 and every 0.01 %
/// above p99.9, so the tail is visible on a log-scaled plot without storing millions of samples.
pub fn cdf_points(sorted: &[f64]) -> Vec<(f64, f64)> {
    if sorted.is_empty() {
        return Vec::new();
    }
    let mut qs: Vec<f64> = (0..99).map(|i| f64::from(i) / 100.0).collect();
    qs.extend((990..999).map(|i| f64::from(i) / 1000.0));
    qs.extend((9990..=10_000).map(|i| f64::from(i) / 10_000.0));
    qs.into_iter()
        .map(|q| {
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            (q, sorted[rank - 1])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::cdf_points;

    #[test]
    fn cdf_is_monotonic_and_ends_at_max() {
        let v: Vec<f64> = (1..=10_000).map(f64::from).collect();
        let cdf = cdf_points(&v);
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(cdf.last().copied(), Some((1.0, 10_000.0)));
        assert_eq!(cdf[50], (0.5, 5_000.0));
        assert!(cdf_points(&[]).is_empty());
    }
}
