//! Unit tests of the decision gates and the end-to-end flow of one `Autoscaler`.

use std::collections::BTreeMap;

use sluice_crds::autoscaler::AutoscalerReason as R;

use super::config::{self, AutoscaleConfig, ConfigErrors};
use super::evaluate::{Autoscaler, JobView, Verdict};
use super::metrics::{PartitionSample, Sample, WorkerSample};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const STEP: i64 = 15_000;

fn enabled() -> Result<AutoscaleConfig, ConfigErrors> {
    config::parse(&BTreeMap::from([(
        config::ENABLED.to_string(),
        "true".to_string(),
    )]))
}

fn job(parallelism: u32) -> JobView {
    JobView {
        partitions: 12,
        parallelism,
        upgrade_in_progress: false,
        restarted_at_ms: None,
        measured_restart: None,
    }
}

/// 12 partitions over `workers` workers that each do 500/s when fully busy, `arrival` per partition.
fn mk_sample(at_ms: i64, workers: u32, arrival: f64) -> Sample {
    let layout = sluice_crds::assignment::assign_partitions(12, workers);
    Sample {
        at_ms,
        workers: layout
            .iter()
            .enumerate()
            .map(|(w, parts)| WorkerSample {
                worker: format!("fraud-{w}"),
                busy_ratio: Some(arrival * parts.len() as f64 / 500.0),
                partitions: parts
                    .iter()
                    .map(|p| PartitionSample {
                        partition: *p,
                        arrival_rate: Some(arrival),
                        processed_rate: arrival,
                        lag: Some(0),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Feeds samples every 15 s from `from` to `to` (inclusive) and returns the decisions.
fn run(a: &mut Autoscaler, job: &JobView, from: i64, to: i64, arrival: f64) -> Vec<(i64, Verdict)> {
    let cfg = enabled();
    let mut out = Vec::new();
    let mut t = from;
    while t <= to {
        if let Ok(c) = &cfg {
            a.observe(mk_sample(t, job.parallelism, arrival), c);
        }
        out.push((t, a.evaluate(&cfg, job, t)));
        t += STEP;
    }
    out
}

#[test]
fn invalid_or_disabled_annotations_hold_with_the_reason() {
    let mut a = Autoscaler::new();
    let bad = config::parse(&BTreeMap::from([(
        config::CATCH_UP.to_string(),
        "soon".to_string(),
    )]));
    let d = a.evaluate(&bad, &job(4), T0);
    assert_eq!(d.reason(), R::InvalidAnnotations);
    assert!(d.message().contains(config::CATCH_UP), "{}", d.message());
    let off = config::parse(&BTreeMap::new());
    let d = a.evaluate(&off, &job(4), T0);
    assert_eq!(d.reason(), R::Disabled);
    assert!(d.message().contains("sluice.dev/autoscale"));
}

#[test]
fn nothing_is_decided_before_the_window_is_full() {
    let mut a = Autoscaler::new();
    let out = run(&mut a, &job(4), T0, T0 + 285_000, 200.0);
    assert!(
        out.iter()
            .all(|(_, d)| d.reason() == R::MetricsWindowFilling)
    );
    assert!(
        out[1].1.message().contains("2026-01-01T00:05:00Z"),
        "{}",
        out[1].1.message()
    );
}

#[test]
fn an_overload_scales_up_after_the_window_and_the_stabilization() {
    let mut a = Autoscaler::new();
    // 160/s per partition: 480/s of work per worker (96% busy), far above 350/s (500 × 0.7).
    let out = run(&mut a, &job(4), T0, T0 + 420_000, 160.0);
    let first_scale = out.iter().find(|(_, d)| matches!(d, Verdict::Scale { .. }));
    let (t, d) = first_scale.expect("scaled");
    // Window full at +300 s, recommendation must persist 60 s.
    assert_eq!(*t, T0 + 360_000);
    let Verdict::Scale {
        from,
        to,
        reason,
        message,
        metrics,
    } = d
    else {
        unreachable!()
    };
    assert_eq!((*from, *to, *reason), (4, 12, R::ScaleUp));
    // 160 × 1.4 = 224/s per partition → 2,688/s / 350 = 7.68 workers → 6 would put 448/s on each, so
    // the next aligned count is 12.
    assert!(message.contains("aligned 7.68 → 12"), "{message}");
    assert_eq!(metrics.recommended, 12);
    assert_eq!(metrics.required_rate, 2688.0);
    assert_eq!(metrics.true_rate_per_worker, 500.0);
    // The stabilization phase said when it would act.
    let stabilizing = out
        .iter()
        .find(|(_, d)| d.reason() == R::Stabilizing)
        .expect("stabilizing first");
    assert!(
        stabilizing
            .1
            .message()
            .contains("executes at 2026-01-01T00:06:00Z"),
        "{}",
        stabilizing.1.message()
    );
    // Right after deciding, nothing more is decided from the old layout's figures.
    assert_eq!(
        out.last().map(|(_, d)| d.reason()),
        Some(R::MetricsWindowFilling)
    );
}

#[test]
fn a_fitting_load_holds_within_target() {
    let mut a = Autoscaler::new();
    let out = run(&mut a, &job(4), T0, T0 + 900_000, 100.0);
    let last = &out.last().unwrap().1;
    assert_eq!(last.reason(), R::WithinTarget, "{}", last.message());
    assert!(out.iter().all(|(_, d)| !matches!(d, Verdict::Scale { .. })));
}

#[test]
fn upgrades_and_parallelism_changes_restart_the_window() {
    let mut a = Autoscaler::new();
    run(&mut a, &job(4), T0, T0 + 300_000, 100.0);
    let mut upgrading = job(4);
    upgrading.upgrade_in_progress = true;
    let d = a.evaluate(&enabled(), &upgrading, T0 + 315_000);
    assert_eq!(d.reason(), R::UpgradeInProgress);
    let out = run(&mut a, &job(4), T0 + 330_000, T0 + 345_000, 100.0);
    assert_eq!(out[1].1.reason(), R::MetricsWindowFilling);
    // Someone ran `kubectl scale`: the old figures are dropped too.
    let mut b = Autoscaler::new();
    run(&mut b, &job(4), T0, T0 + 300_000, 100.0);
    let out = run(&mut b, &job(6), T0 + 315_000, T0 + 315_000, 100.0);
    assert_eq!(out[0].1.reason(), R::MetricsWindowFilling);
}

#[test]
fn samples_from_before_a_restart_are_dropped() {
    let mut a = Autoscaler::new();
    run(&mut a, &job(4), T0, T0 + 600_000, 100.0);
    let mut restarted = job(4);
    restarted.restarted_at_ms = Some(T0 + 500_000);
    let d = a.evaluate(&enabled(), &restarted, T0 + 600_000);
    assert_eq!(d.reason(), R::MetricsWindowFilling, "{}", d.message());
}

#[test]
fn records_without_busy_time_are_reported_not_guessed() {
    let mut a = Autoscaler::new();
    let cfg = enabled();
    let c = cfg.as_ref().unwrap();
    for i in 0..=20 {
        let mut s = mk_sample(T0 + i * STEP, 4, 50.0);
        for w in &mut s.workers {
            w.busy_ratio = Some(0.0);
        }
        a.observe(s, c);
    }
    let d = a.evaluate(&cfg, &job(4), T0 + 20 * STEP);
    assert_eq!(d.reason(), R::NoCapacityEstimate, "{}", d.message());
}

/// The first time `out` orders a rescale.
fn first_scale(out: &[(i64, Verdict)]) -> Option<i64> {
    out.iter()
        .find(|(_, d)| matches!(d, Verdict::Scale { .. }))
        .map(|(t, _)| *t)
}

/// An autoscaler that has held an overload through half its scale-up stabilization window (full window at
/// +300 s, Stabilizing since then), and the history it persisted.
fn halfway_through_stabilization() -> (Autoscaler, sluice_crds::autoscaler::AutoscalerHistory) {
    let mut a = Autoscaler::new();
    let out = run(&mut a, &job(4), T0, T0 + 330_000, 160.0);
    assert_eq!(out.last().map(|(_, d)| d.reason()), Some(R::Stabilizing));
    let persisted = a.persisted().expect("a history to persist");
    (a, persisted)
}

#[test]
fn a_new_operator_process_continues_the_stabilization_window_from_the_status() {
    let (_, persisted) = halfway_through_stabilization();
    let mut carried = Autoscaler::new();
    carried.resume(Some(&persisted), 4);
    let out = run(&mut carried, &job(4), T0 + 345_000, T0 + 900_000, 160.0);
    // The window fills again (+345 s … +645 s); the recommendation has persisted since +300 s, so the
    // first full window decides.
    assert_eq!(first_scale(&out), Some(T0 + 645_000));
    // Without the persisted history the window would start again at the first full window.
    let mut fresh = Autoscaler::new();
    let out = run(&mut fresh, &job(4), T0 + 345_000, T0 + 900_000, 160.0);
    assert_eq!(first_scale(&out), Some(T0 + 705_000));
}

#[test]
fn a_carried_history_is_dropped_after_a_worker_restart_a_long_gap_or_for_another_layout() {
    let (_, persisted) = halfway_through_stabilization();
    // The workers restarted after the history was recorded.
    let mut a = Autoscaler::new();
    a.resume(Some(&persisted), 4);
    let restarted = JobView {
        restarted_at_ms: Some(T0 + 340_000),
        ..job(4)
    };
    let out = run(&mut a, &restarted, T0 + 345_000, T0 + 900_000, 160.0);
    assert_eq!(first_scale(&out), Some(T0 + 705_000));
    // The operator was away for longer than two metrics windows.
    let mut a = Autoscaler::new();
    a.resume(Some(&persisted), 4);
    let out = run(&mut a, &job(4), T0 + 1_000_000, T0 + 1_600_000, 160.0);
    assert_eq!(first_scale(&out), Some(T0 + 1_360_000));
    // Another parallelism: the history is not taken at all.
    let mut a = Autoscaler::new();
    a.resume(Some(&persisted), 6);
    assert_eq!(a.persisted(), None);
}

#[test]
fn only_a_fresh_autoscaler_takes_a_persisted_history() {
    let (mut a, persisted) = halfway_through_stabilization();
    let mut other = persisted.clone();
    other.recommendations.truncate(1);
    a.resume(Some(&other), 4);
    assert_eq!(a.persisted(), Some(persisted));
}
