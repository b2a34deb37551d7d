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
    pub checkpoints: u64,
    /// Mean checkpoint duration over both workers, weighted by count.
    pub checkpoint_mean_ms: Option<f64>,
    pub kills: usize,
}

/// Worker 0's RSS after warm-up (the second sixth of the load) against its end (the last sixth), with its
/// live state over the same stretches: memory that grows while the state holds steady is a leak.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RssTrend {
    pub after_warm_up_mib: Option<f64>,
    pub end_mib: Option<f64>,
    pub growth_pct: Option<f64>,
    pub state_after_warm_up_mib: Option<f64>,
    pub state_end_mib: Option<f64>,
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
        format!(
            "soak: {} min at {} records/s, {} kills; {} input records: {} duplicates, {} losses, {} mismatches\n\
             soak: worker 0 RSS {} after warm-up, {} at the end ({}); its state {} after warm-up, {} at the end",
            self.soak.minutes,
            self.soak.records_per_sec,
            self.kills.len(),
            v.input_records,
            v.duplicates,
            v.losses,
            v.mismatches,
            mib(r.after_warm_up_mib),
            mib(r.end_mib),
            r.growth_pct
                .map_or("growth unknown".into(), |g| format!("{g:+.1} %")),
            mib(r.state_after_warm_up_mib),
            mib(r.state_end_mib),
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

/// One per-worker figure of a sample (`Sample::rss_mib`, `Sample::state_mib`).
type Figure = fn(&Sample) -> &Vec<Option<f64>>;

const RSS: Figure = |s| &s.rss_mib;
const STATE: Figure = |s| &s.state_mib;

/// Worker `w`'s `figure` samples in `[from, to)` seconds.
fn between(samples: &[Sample], figure: Figure, w: usize, from: f64, to: f64) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| s.t_secs >= from && s.t_secs < to)
        .filter_map(|s| figure(s).get(w).copied().flatten())
        .collect()
}

fn rss_trend(samples: &[Sample], load_secs: f64) -> RssTrend {
    let sixth = load_secs / 6.0;
    let warm = |figure| median(between(samples, figure, 0, sixth, 2.0 * sixth));
    let end = |figure| median(between(samples, figure, 0, 5.0 * sixth, load_secs));
    let (after, last) = (warm(RSS), end(RSS));
    RssTrend {
        after_warm_up_mib: after,
        end_mib: last,
        growth_pct: after
            .zip(last)
            .filter(|(a, _)| *a > 0.0)
            .map(|(a, e)| (e - a) / a * 100.0),
        state_after_warm_up_mib: warm(STATE),
        state_end_mib: end(STATE),
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
        rss_mib: (0..workers)
            .map(|w| median(between(all, RSS, w, from, to)))
            .collect(),
        state_mib: (0..workers)
            .map(|w| median(between(all, STATE, w, from, to)))
            .collect(),
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
        assert_eq!(rss_trend(&[], 60.0), RssTrend::default());
    }
}
