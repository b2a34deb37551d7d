//! The soak's result (JSON): its configuration and provenance, every sample, every kill, what `sluice
//! verify` found, five-minute windows and worker 0's RSS trend. `scripts/reliability-table.py` renders the
//! windows as the table in docs/reliability.md; `bench/plot/soak.py` draws the samples.

use serde::Serialize;
use sluice_cli::verify::VerifyReport;
use sluice_generator::GeneratorConfig;
use sluice_testbed::provenance::{Provenance, machine};

use super::soak::SoakArgs;

/// Everything that shaped the run.
#[derive(Debug, Clone, Serialize)]
pub struct SoakConfig {
    pub minutes: u64,
    pub records_per_sec: u32,
    pub kill_every_secs: u64,
    pub sample_secs: u64,
    pub checkpoint_interval_secs: u64,
    pub partitions: i32,
    pub workers: usize,
    pub generator: GeneratorConfig,
    pub profile: &'static str,
    pub machine: String,
    pub provenance: Provenance,
}

impl SoakConfig {
    pub fn new(args: &SoakArgs, partitions: i32, generator: &GeneratorConfig) -> SoakConfig {
        SoakConfig {
            minutes: args.minutes,
            records_per_sec: args.rate,
            kill_every_secs: args.kill_every_secs,
            sample_secs: args.sample_secs,
            checkpoint_interval_secs: args.checkpoint_interval_secs,
            partitions,
            workers: 2,
            generator: generator.clone(),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            machine: machine(),
            provenance: Provenance::of_this_run(),
        }
    }
}

/// One sample; the per-worker vectors are indexed by worker (0 runs throughout, 1 is the one killed).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sample {
    pub t_secs: f64,
    /// Input records the load generator had sent.
    pub produced: u64,
    /// Input records not yet committed by the job's consumer group (None when the lookup failed).
    pub lag: Option<i64>,
    pub rss_mib: Vec<Option<f64>>,
    /// Each worker's live RocksDB state (the sum of its partitions' `sluice_state_bytes`), MiB.
    pub state_mib: Vec<Option<f64>>,
    /// Checkpoints completed since the previous sample, and their mean duration.
    pub checkpoints: Vec<u64>,
    pub checkpoint_mean_ms: Vec<Option<f64>>,
    /// Checkpoint bytes each worker uploaded since the previous sample, MiB.
    pub uploaded_mib: Vec<Option<f64>>,
    /// Each worker's caches, MiB: the shared RocksDB block cache (its memtables are charged to it), the
    /// table readers outside it, and the read cache of committed state (see the worker's `state/memory.rs`).
    pub block_cache_mib: Vec<Option<f64>>,
    pub table_readers_mib: Vec<Option<f64>>,
    pub read_cache_mib: Vec<Option<f64>>,
    /// Objects and bytes under the job's store prefix in the bucket (None when the listing failed).
    pub store_objects: Option<u64>,
    pub store_mib: Option<f64>,
}

impl Sample {
    /// Worker `w`'s caches together, MiB (None unless all three were read).
    pub fn caches_mib(&self, w: usize) -> Option<f64> {
        let get = |v: &Vec<Option<f64>>| v.get(w).copied().flatten();
        Some(
            get(&self.block_cache_mib)?
                + get(&self.table_readers_mib)?
                + get(&self.read_cache_mib)?,
        )
    }

    /// Worker `w`'s RSS minus its caches, MiB: what should stay flat once the caches are full.
    pub fn rest_mib(&self, w: usize) -> Option<f64> {
        Some(self.rss_mib.get(w).copied().flatten()? - self.caches_mib(w)?)
    }
}

/// A SIGKILL of worker 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Kill {
    pub t_secs: f64,
    /// The state directory was deleted before the restart (restore from S3).
    pub lost_disk: bool,
}

/// What the independent oracle found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verified {
    pub input_records: u64,
    pub duplicates: u64,
    pub losses: u64,
    pub mismatches: u64,
    pub failures: Vec<String>,
}

/// Samples aggregated over a stretch of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Window {
    pub from_min: f64,
    pub to_min: f64,
    /// Input records sent per second in the window.
    pub input_per_sec: f64,
    pub max_lag: Option<i64>,
    /// Median RSS of each worker, MiB.
    pub rss_mib: Vec<Option<f64>>,
    /// Median live state of each worker, MiB.
    pub state_mib: Vec<Option<f64>>,
    /// Median of each worker's caches and of its RSS minus them, MiB.
    pub caches_mib: Vec<Option<f64>>,
    pub rest_mib: Vec<Option<f64>>,
    /// Checkpoint bytes uploaded by both workers in the window, MiB.
    pub uploaded_mib: f64,
    /// Objects under the store prefix at the window's last listing.
    pub store_objects: Option<u64>,
    pub checkpoints: u64,
    /// Mean checkpoint duration over both workers, weighted by count.
    pub checkpoint_mean_ms: Option<f64>,
    pub kills: usize,
}

/// Worker 0's RSS after warm-up (the second sixth of the load) against its end (the last sixth), with its
/// live state and its caches over the same stretches. The caches fill up to their budgets, so RSS alone may
/// rise for a long time without a leak; RSS minus the caches (`rest_*`) is what must not grow.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RssTrend {
    pub after_warm_up_mib: Option<f64>,
    pub end_mib: Option<f64>,
    pub growth_pct: Option<f64>,
    pub state_after_warm_up_mib: Option<f64>,
    pub state_end_mib: Option<f64>,
    pub caches_after_warm_up_mib: Option<f64>,
    pub caches_end_mib: Option<f64>,
    pub rest_after_warm_up_mib: Option<f64>,
    pub rest_end_mib: Option<f64>,
    pub rest_growth_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakResult {
    pub soak: SoakConfig,
    pub seconds: f64,
    pub verified: Verified,
    pub rss_worker0: RssTrend,
    pub windows: Vec<Window>,
    pub kills: Vec<Kill>,
    pub samples: Vec<Sample>,
}

/// The window length: five minutes, or a twelfth of a shorter run.
fn window_secs(minutes: u64) -> f64 {
    (minutes as f64 * 60.0 / 12.0).clamp(1.0, 300.0)
}

impl SoakResult {
    pub fn new(
        soak: SoakConfig,
        samples: Vec<Sample>,
        kills: Vec<Kill>,
        report: &VerifyReport,
        elapsed: std::time::Duration,
    ) -> SoakResult {
        let (duplicates, losses, mismatches) = report.figures();
        let load_secs = soak.minutes as f64 * 60.0;
        SoakResult {
            windows: windows(&samples, &kills, window_secs(soak.minutes)),
            rss_worker0: rss_trend(&samples, load_secs),
            verified: Verified {
                input_records: report.input_records,
                duplicates,
                losses,
                mismatches,
                failures: report.failures(),
            },
            seconds: elapsed.as_secs_f64(),
            soak,
            kills,
            samples,
        }
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let v = &self.verified;
        let r = &self.rss_worker0;
        let mib = |x: Option<f64>| x.map_or("?".into(), |m| format!("{m:.0} MiB"));
        let growth = |g: Option<f64>| g.map_or("growth unknown".into(), |g| format!("{g:+.1} %"));
        format!(
            "soak: {} min at {} records/s, {} kills; {} input records: {} duplicates, {} losses, {} mismatches\n\
             soak: worker 0 RSS {} after warm-up, {} at the end ({}); its state {} after warm-up, {} at the end\n\
             soak: worker 0 RSS minus caches {} after warm-up, {} at the end ({}); its caches {} → {}",
            self.soak.minutes,
            self.soak.records_per_sec,
            self.kills.len(),
            v.input_records,
            v.duplicates,
            v.losses,
            v.mismatches,
            mib(r.after_warm_up_mib),
            mib(r.end_mib),
            growth(r.growth_pct),
            mib(r.state_after_warm_up_mib),
            mib(r.state_end_mib),
            mib(r.rest_after_warm_up_mib),
            mib(r.rest_end_mib),
            growth(r.rest_growth_pct),
            mib(r.caches_after_warm_up_mib),
            mib(r.caches_end_mib),
        )
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// One per-worker figure of a sample.
type Figure = fn(&Sample, usize) -> Option<f64>;

fn at(v: &[Option<f64>], w: usize) -> Option<f64> {
    v.get(w).copied().flatten()
}

const RSS: Figure = |s, w| at(&s.rss_mib, w);
const STATE: Figure = |s, w| at(&s.state_mib, w);
const CACHES: Figure = Sample::caches_mib;
const REST: Figure = Sample::rest_mib;

/// Worker `w`'s `figure` samples in `[from, to)` seconds.
fn between(samples: &[Sample], figure: Figure, w: usize, from: f64, to: f64) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| s.t_secs >= from && s.t_secs < to)
        .filter_map(|s| figure(s, w))
        .collect()
}

fn growth_pct(from: Option<f64>, to: Option<f64>) -> Option<f64> {
    from.zip(to)
        .filter(|(a, _)| *a > 0.0)
        .map(|(a, e)| (e - a) / a * 100.0)
}

fn rss_trend(samples: &[Sample], load_secs: f64) -> RssTrend {
    let sixth = load_secs / 6.0;
    let warm = |figure| median(between(samples, figure, 0, sixth, 2.0 * sixth));
    let end = |figure| median(between(samples, figure, 0, 5.0 * sixth, load_secs));
    let (after, last) = (warm(RSS), end(RSS));
    let (rest_after, rest_last) = (warm(REST), end(REST));
    RssTrend {
        after_warm_up_mib: after,
        end_mib: last,
        growth_pct: growth_pct(after, last),
        state_after_warm_up_mib: warm(STATE),
        state_end_mib: end(STATE),
        caches_after_warm_up_mib: warm(CACHES),
        caches_end_mib: end(CACHES),
        rest_after_warm_up_mib: rest_after,
        rest_end_mib: rest_last,
        rest_growth_pct: growth_pct(rest_after, rest_last),
    }
}

fn windows(samples: &[Sample], kills: &[Kill], len_secs: f64) -> Vec<Window> {
    let Some(last) = samples.last() else {
        return Vec::new();
    };
    let workers = samples.iter().map(|s| s.rss_mib.len()).max().unwrap_or(0);
    let count = (last.t_secs / len_secs).ceil().max(1.0) as usize;
    (0..count)
        .map(|i| {
            let (from, to) = (i as f64 * len_secs, (i + 1) as f64 * len_secs);
            let inside: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.t_secs >= from && s.t_secs < to)
                .collect();
            window(&inside, samples, kills, workers, (from, to))
        })
        .collect()
}

fn window(
    inside: &[&Sample],
    all: &[Sample],
    kills: &[Kill],
    workers: usize,
    (from, to): (f64, f64),
) -> Window {
    // The rate is taken between the last sample before the window (or the start) and its last sample.
    let before = all.iter().rev().find(|s| s.t_secs < from);
    let (t0, p0) = before.map_or((0.0, 0), |s| (s.t_secs, s.produced));
    let input_per_sec = inside.last().filter(|s| s.t_secs > t0).map_or(0.0, |s| {
        (s.produced - p0.min(s.produced)) as f64 / (s.t_secs - t0)
    });
    let (mut n, mut weighted) = (0u64, 0.0);
    let per_worker = |figure: Figure| -> Vec<Option<f64>> {
        (0..workers)
            .map(|w| median(between(all, figure, w, from, to)))
            .collect()
    };
    for s in inside {
        for (c, m) in s.checkpoints.iter().zip(&s.checkpoint_mean_ms) {
            if let Some(m) = m {
                n += c;
                weighted += *c as f64 * m;
            }
        }
    }
    Window {
        from_min: from / 60.0,
        to_min: to / 60.0,
        input_per_sec,
        max_lag: inside.iter().filter_map(|s| s.lag).max(),
        rss_mib: per_worker(RSS),
        state_mib: per_worker(STATE),
        caches_mib: per_worker(CACHES),
        rest_mib: per_worker(REST),
        uploaded_mib: inside
            .iter()
            .flat_map(|s| s.uploaded_mib.iter().flatten())
            .sum(),
        store_objects: inside.iter().rev().find_map(|s| s.store_objects),
        checkpoints: n,
        checkpoint_mean_ms: (n > 0).then(|| weighted / n as f64),
        kills: kills
            .iter()
            .filter(|k| k.t_secs >= from && k.t_secs < to)
            .count(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample(t: f64, produced: u64, lag: i64, rss0: f64, ckpt: (u64, f64)) -> Sample {
        Sample {
            t_secs: t,
            produced,
            lag: Some(lag),
            rss_mib: vec![Some(rss0), None],
            // The state grows to 50 MiB and holds there.
            state_mib: vec![Some(t.min(50.0)), None],
            checkpoints: vec![ckpt.0, 0],
            checkpoint_mean_ms: vec![Some(ckpt.1), None],
            uploaded_mib: vec![Some(2.0), None],
            // The caches fill at half the RSS's pace, so the rest grows at the other half.
            block_cache_mib: vec![Some(rss0 / 2.0 - 10.0), None],
            table_readers_mib: vec![Some(4.0), None],
            read_cache_mib: vec![Some(6.0), None],
            store_objects: Some(t as u64),
            store_mib: Some(t),
        }
    }

    #[test]
    fn windows_aggregate_rate_lag_rss_checkpoints_and_kills() {
        let samples = vec![
            sample(10.0, 1_000, 5, 100.0, (1, 200.0)),
            sample(20.0, 2_000, 50, 110.0, (3, 400.0)),
            sample(30.0, 3_000, 7, 120.0, (0, 0.0)),
            sample(40.0, 4_500, 9, 130.0, (2, 100.0)),
        ];
        let kills = [Kill {
            t_secs: 25.0,
            lost_disk: false,
        }];
        let w = windows(&samples, &kills, 25.0);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].input_per_sec, 100.0);
        assert_eq!(w[0].max_lag, Some(50));
        assert_eq!(w[0].rss_mib, vec![Some(105.0), None]);
        assert_eq!(w[0].state_mib, vec![Some(15.0), None]);
        assert_eq!(w[0].checkpoints, 4);
        assert_eq!(w[0].checkpoint_mean_ms, Some(350.0));
        assert_eq!(w[0].kills, 0);
        assert_eq!(w[0].caches_mib, vec![Some(52.5), None]);
        assert_eq!(w[0].rest_mib, vec![Some(52.5), None]);
        assert_eq!(w[0].uploaded_mib, 4.0);
        assert_eq!(w[0].store_objects, Some(20));
        // From the sample at 20 s (2,000 sent) to the one at 40 s (4,500 sent).
        assert_eq!(w[1].input_per_sec, 125.0);
        assert_eq!(w[1].kills, 1);
        assert_eq!(w[1].checkpoint_mean_ms, Some(100.0));
    }

    #[test]
    fn rss_trend_compares_the_second_sixth_with_the_last() {
        let samples: Vec<Sample> = (0..60)
            .map(|i| sample(i as f64, 0, 0, 100.0 + i as f64, (0, 0.0)))
            .collect();
        let t = rss_trend(&samples, 60.0);
        assert_eq!(t.after_warm_up_mib, Some(114.5));
        assert_eq!(t.end_mib, Some(154.5));
        assert!((t.growth_pct.unwrap() - 40.0 / 114.5 * 100.0).abs() < 1e-9);
        assert_eq!(t.state_after_warm_up_mib, Some(14.5));
        assert_eq!(t.state_end_mib, Some(50.0));
        assert_eq!(t.caches_after_warm_up_mib, Some(57.25));
        assert_eq!(t.rest_after_warm_up_mib, Some(57.25));
        assert_eq!(t.rest_end_mib, Some(77.25));
        assert!((t.rest_growth_pct.unwrap() - 20.0 / 57.25 * 100.0).abs() < 1e-9);
        assert_eq!(rss_trend(&[], 60.0), RssTrend::default());
    }

    #[test]
    fn a_sample_without_cache_figures_has_no_rest() {
        let mut s = sample(1.0, 0, 0, 100.0, (0, 0.0));
        assert_eq!(s.rest_mib(0), Some(50.0));
        assert_eq!(s.rest_mib(1), None, "worker 1 has no RSS in this sample");
        s.read_cache_mib = vec![None, None];
        assert_eq!(s.caches_mib(0), None);
        assert_eq!(s.rest_mib(0), None, "not RSS minus a part of the caches");
    }
}
