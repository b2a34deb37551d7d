//! Closed-loop runs of the autoscaler against a simulated job: workers of fixed capacity process their
//! partitions, lag builds when they cannot keep up, and every rescale stops the job for a restart time
//! (no processing, records keep arriving) before the new layout runs. The autoscaler is driven exactly
//! like the reconciler would: one sample and one evaluation per 15 s tick.
//!
//! Checked over whole scenarios: every parallelism is within bounds and partition-aligned, it converges
//! (few rescales, lag worked off), and it never flaps (no rescale in the opposite direction within the
//! stabilization window, at most one rescale for a load oscillating around a threshold).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use sluice_crds::assignment::assign_partitions;
use sluice_operator::autoscale::sizing::{is_aligned, largest_aligned_at_most, scale_down_floor};
use sluice_operator::autoscale::{
    Autoscaler, JobView, PartitionSample, Sample, Verdict, WorkerSample, config,
};

const STEP_MS: i64 = 15_000;
const CAPACITY: f64 = 500.0;
const RESTART_MS: i64 = 90_000;

struct Run {
    /// (time, from, to) of every rescale.
    rescales: Vec<(i64, u32, u32)>,
    /// (time, total lag) per tick.
    lag: Vec<(i64, f64)>,
    final_parallelism: u32,
}

/// Simulates `duration_ms` of a job with `partitions` partitions starting at `parallelism` workers.
fn simulate(
    partitions: u32,
    parallelism: u32,
    duration_ms: i64,
    annotations: &[(&str, &str)],
    arrival: impl Fn(i64, u32) -> f64,
    lag_burst: Option<(i64, f64)>,
) -> Run {
    let mut ann: BTreeMap<String, String> = annotations
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    ann.insert(config::ENABLED.into(), "true".into());
    let cfg = config::parse(&ann).unwrap();
    let mut scaler = Autoscaler::new();
    let mut lag = vec![0.0f64; partitions as usize];
    let mut current = parallelism;
    let mut restarting: Option<(i64, u32)> = None;
    let mut restarted_at = None;
    let mut run = Run {
        rescales: Vec::new(),
        lag: Vec::new(),
        final_parallelism: parallelism,
    };
    let dt = STEP_MS as f64 / 1000.0;
    let mut t = 0;
    while t <= duration_ms {
        if let Some((at, extra)) = lag_burst
            && at == t
        {
            lag.iter_mut().for_each(|l| *l += extra);
        }
        if let Some((until, to)) = restarting
            && t >= until
        {
            current = to;
            restarting = None;
            restarted_at = Some(t);
        }
        if restarting.is_some() {
            // Stopped: records keep arriving.
            for (p, l) in lag.iter_mut().enumerate() {
                *l += arrival(t, p as u32) * dt;
            }
        } else {
            let mut workers = Vec::new();
            for (w, parts) in assign_partitions(partitions, current).iter().enumerate() {
                let rates: Vec<f64> = parts.iter().map(|p| arrival(t, *p as u32)).collect();
                let demand: Vec<f64> = parts
                    .iter()
                    .zip(&rates)
                    .map(|(p, r)| r + lag[*p as usize] / dt)
                    .collect();
                let total: f64 = demand.iter().sum();
                let done = total.min(CAPACITY);
                let mut samples = Vec::new();
                for ((p, r), d) in parts.iter().zip(&rates).zip(&demand) {
                    let processed = if total > 0.0 { d / total * done } else { 0.0 };
                    let l = &mut lag[*p as usize];
                    *l = (*l + (r - processed) * dt).max(0.0);
                    samples.push(PartitionSample {
                        partition: *p,
                        arrival_rate: None, // derived from lag growth, like the control API's figures
                        processed_rate: processed,
                        lag: Some(l.round() as i64),
                    });
                }
                workers.push(WorkerSample {
                    worker: format!("w-{w}"),
                    busy_ratio: Some(done / CAPACITY),
                    partitions: samples,
                });
            }
            scaler.observe(Sample { at_ms: t, workers }, &cfg);
        }
        let job = JobView {
            partitions,
            parallelism: current,
            upgrade_in_progress: restarting.is_some(),
            restarted_at_ms: restarted_at,
            measured_restart: None,
        };
        if let Verdict::Scale { from, to, .. } = scaler.evaluate(&Ok(cfg.clone()), &job, t) {
            run.rescales.push((t, from, to));
            restarting = Some((t + RESTART_MS, to));
        }
        run.lag.push((t, lag.iter().sum()));
        t += STEP_MS;
    }
    run.final_parallelism = restarting.map_or(current, |(_, to)| to);
    run
}

/// Bounds, alignment and no opposite flips within the stabilization windows (defaults: 1m up, 10m down;
/// every rescale also needs a refilled 5m window first).
fn assert_sane(run: &Run, partitions: u32, min: u32, max: u32) {
    // Shown with `--nocapture`: (time ms, from, to) of every rescale.
    println!("rescales: {:?}", run.rescales);
    for (t, from, to) in &run.rescales {
        assert!(
            *to >= min && *to <= max.min(partitions),
            "{from} → {to} at {t}"
        );
        // Aligned, unless shrinking from an unaligned count whose scale-down floor leaves no aligned count
        // below it.
        assert!(
            is_aligned(partitions, *to) || (to < from && *to == scale_down_floor(*from, 0.5)),
            "{from} → {to} at {t} is not aligned"
        );
        if to < from {
            assert!(*to * 2 >= *from, "{from} → {to} shrinks by more than half");
        }
    }
    for pair in run.rescales.windows(2) {
        let ((t1, f1, to1), (t2, _, to2)) = (pair[0], pair[1]);
        let gap = t2 - t1;
        assert!(
            gap >= RESTART_MS + 300_000,
            "rescales {gap} ms apart: {:?}",
            run.rescales
        );
        if (to1 > f1) != (to2 > to1) {
            let window = if to2 > to1 { 60_000 } else { 600_000 };
            assert!(gap >= window, "flip after {gap} ms: {:?}", run.rescales);
        }
    }
}

fn max_lag_between(run: &Run, from: i64, to: i64) -> f64 {
    run.lag
        .iter()
        .filter(|(t, _)| (from..=to).contains(t))
        .map(|(_, l)| *l)
        .fold(0.0, f64::max)
}

#[test]
fn a_daily_ramp_is_followed_up_and_down_without_flapping() {
    // 24 partitions; arrival rises from 20/s to 220/s per partition over 40 minutes, stays an hour, falls
    // back over 40 minutes and stays low for an hour.
    let arrival = |t: i64, _p: u32| {
        let m = t as f64 / 60_000.0;
        let level = if m < 40.0 {
            m / 40.0
        } else if m < 100.0 {
            1.0
        } else if m < 140.0 {
            1.0 - (m - 100.0) / 40.0
        } else {
            0.0
        };
        20.0 + 200.0 * level
    };
    let run = simulate(24, 2, 200 * 60_000, &[], arrival, None);
    assert_sane(&run, 24, 1, 24);
    let ups = run.rescales.iter().filter(|(_, f, t)| t > f).count();
    let downs = run.rescales.iter().filter(|(_, f, t)| t < f).count();
    assert!(ups >= 1 && downs >= 1, "{:?}", run.rescales);
    assert!(
        run.rescales.len() <= 8,
        "too many rescales: {:?}",
        run.rescales
    );
    // At the plateau the job keeps up: lag in its last 30 minutes stays below a minute of arrivals.
    let plateau_lag = max_lag_between(&run, 70 * 60_000, 100 * 60_000);
    assert!(
        plateau_lag < 24.0 * 220.0 * 60.0,
        "lag {plateau_lag} at the plateau: {:?}",
        run.rescales
    );
    // Back at 20/s per partition (480/s in total, under 2 workers' 700/s) it has shrunk again.
    let peak = run.rescales.iter().map(|(_, _, to)| *to).max().unwrap_or(2);
    assert!(run.final_parallelism < peak, "{:?}", run.rescales);
}

#[test]
fn a_load_oscillating_around_the_threshold_rescales_at_most_once() {
    // 12 partitions on 4 workers (350/s allowed each): arrival alternates 105/s and 125/s per partition
    // every 2 minutes, i.e. 315/s and 375/s per worker, for two hours.
    let arrival = |t: i64, _p: u32| if (t / 120_000) % 2 == 0 { 105.0 } else { 125.0 };
    let run = simulate(12, 4, 120 * 60_000, &[], arrival, None);
    assert_sane(&run, 12, 1, 12);
    assert!(run.rescales.len() <= 1, "flapping: {:?}", run.rescales);
}

#[test]
fn a_lag_burst_scales_up_and_the_lag_is_worked_off() {
    // 100/s per partition on 4 workers (300/s each, fine); at minute 20 a replay adds 60,000 records to
    // each of the 12 partitions (720,000 in all).
    let run = simulate(
        12,
        4,
        90 * 60_000,
        &[],
        |_, _| 100.0,
        Some((20 * 60_000, 60_000.0)),
    );
    assert_sane(&run, 12, 1, 12);
    let first = run.rescales.first().expect("a rescale");
    assert!(first.2 > first.1, "{:?}", run.rescales);
    assert!(first.0 <= 22 * 60_000, "reacted late: {:?}", run.rescales);
    // Worked off within catch-up (5m) + restart + stabilization, with a generous margin.
    let late = max_lag_between(&run, 40 * 60_000, 90 * 60_000);
    assert!(
        late < 12.0 * 100.0 * 60.0,
        "lag {late} still at minute 40+: {:?}",
        run.rescales
    );
}

#[test]
fn bounds_from_annotations_are_respected_in_closed_loop() {
    let run = simulate(
        24,
        4,
        60 * 60_000,
        &[(config::MAX, "6"), (config::MIN, "3")],
        |_, _| 400.0,
        None,
    );
    assert_sane(&run, 24, 3, 6);
    assert_eq!(run.final_parallelism, 6, "{:?}", run.rescales);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random piecewise-constant loads (and an optional lag burst) on random layouts: every rescale stays
    /// within bounds, aligned, limited when shrinking, and never flips within a stabilization window.
    #[test]
    fn random_loads_never_break_bounds_or_flap(
        partitions in 1u32..=24,
        start in 1u32..=24,
        levels in prop::collection::vec((1i64..=30, 0.0..400.0f64), 1..6),
        max in prop::option::of(1u32..=24),
        burst in prop::option::of((0i64..=60, 0.0..100_000.0f64)),
    ) {
        let start = start.min(partitions);
        // An aligned max keeps the alignment check exact (a forced, unaligned bound is legal).
        let max = max.map(|m| largest_aligned_at_most(partitions, m).max(start));
        let mut ends = Vec::new();
        let mut acc = 0i64;
        for (minutes, rate) in &levels {
            acc += minutes * 60_000;
            ends.push((acc, *rate));
        }
        let arrival = move |t: i64, _p: u32| {
            ends.iter().find(|(end, _)| t < *end).or(ends.last()).map_or(0.0, |(_, r)| *r)
        };
        let max_s = max.map(|m| m.to_string());
        let ann: Vec<(&str, &str)> = max_s.iter().map(|m| (config::MAX, m.as_str())).collect();
        let burst = burst.map(|(minute, lag)| (minute * 60_000, lag));
        let run = simulate(partitions, start, acc + 20 * 60_000, &ann, arrival, burst);
        assert_sane(&run, partitions, 1, max.unwrap_or(partitions));
    }
}
