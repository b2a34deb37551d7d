//! Unit tests of the metrics window: fill, pruning, gaps, and the robust averages.

use sluice_crds::control::{WorkerPhase, WorkerStatus};

use super::*;
use sluice_crds::control::PartitionStatus;

const W: Millis = Millis(60_000);

/// A sample of `workers` workers over `partitions` partitions (contiguous), each partition with `rate`
/// processed and arriving, the given busy ratio and lag.
fn mk_sample(at_ms: i64, partitions: i32, workers: i32, rate: f64, busy: f64, lag: i64) -> Sample {
    let per = partitions / workers;
    Sample {
        at_ms,
        workers: (0..workers)
            .map(|w| WorkerSample {
                worker: format!("job-{w}"),
                busy_ratio: Some(busy),
                partitions: (w * per..(w + 1) * per)
                    .map(|p| PartitionSample {
                        partition: p,
                        arrival_rate: Some(rate),
                        processed_rate: rate,
                        lag: Some(lag),
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[test]
fn fills_after_one_window_of_continuous_samples() {
    let mut w = MetricsWindow::new();
    assert_eq!(
        w.fill(0, W),
        Fill::Filling {
            since_ms: None,
            full_at_ms: None
        }
    );
    for t in (0..=60_000).step_by(15_000) {
        w.push(mk_sample(t, 4, 2, 10.0, 0.5, 0), W);
        let expect_full = t >= 60_000;
        assert_eq!(w.fill(t, W) == Fill::Full, expect_full, "at {t}");
    }
    // Pruned to the window, inclusive of its start.
    assert_eq!(w.len(), 5);
    w.push(mk_sample(75_000, 4, 2, 10.0, 0.5, 0), W);
    assert_eq!(w.len(), 5);
    assert_eq!(w.fill(75_000, W), Fill::Full);
}

#[test]
fn reset_and_restart_make_it_refill() {
    let mut w = MetricsWindow::new();
    for t in (0..=90_000).step_by(15_000) {
        w.push(mk_sample(t, 4, 2, 10.0, 0.5, 0), W);
    }
    assert_eq!(w.fill(90_000, W), Fill::Full);
    w.discard_before(80_000);
    assert_eq!(
        w.fill(90_000, W),
        Fill::Filling {
            since_ms: Some(90_000),
            full_at_ms: Some(150_000)
        }
    );
    w.reset();
    assert!(w.is_empty());
}

#[test]
fn a_gap_longer_than_half_a_window_restarts_the_fill() {
    let mut w = MetricsWindow::new();
    for t in (0..=60_000).step_by(15_000) {
        w.push(mk_sample(t, 4, 2, 10.0, 0.5, 0), W);
    }
    w.push(mk_sample(100_000, 4, 2, 10.0, 0.5, 0), W);
    assert_eq!(w.len(), 1);
    assert!(matches!(w.fill(100_000, W), Fill::Filling { .. }));
}

#[test]
fn out_of_order_samples_are_ignored() {
    let mut w = MetricsWindow::new();
    w.push(mk_sample(10_000, 4, 2, 10.0, 0.5, 0), W);
    w.push(mk_sample(10_000, 4, 2, 99.0, 0.5, 0), W);
    w.push(mk_sample(5_000, 4, 2, 99.0, 0.5, 0), W);
    assert_eq!(w.len(), 1);
}

#[test]
fn true_rate_is_processed_over_busy_and_ignores_idle_workers() {
    let mut w = MetricsWindow::new();
    let mut s = mk_sample(0, 4, 2, 50.0, 0.5, 0);
    // Worker 1 is idle with a noise-level busy ratio: its 1000/s-per-0.001 "rate" must not count.
    s.workers[1].busy_ratio = Some(0.001);
    w.push(s, W);
    let sum = w.summarize(0, W, 4).unwrap();
    // Worker 0: 2 partitions × 50/s at 50% busy → 200/s when fully busy.
    assert_eq!(sum.true_rate_per_worker, Some(200.0));
    assert_eq!(sum.partitions[0].true_rate, Some(100.0));
    assert_eq!(sum.partitions[2].true_rate, None);
}

#[test]
fn noisy_busy_ratio_averages_to_the_busy_weighted_rate() {
    let mut w = MetricsWindow::new();
    // Same processing rate, busy ratio alternating 0.25 / 0.75: mean busy 0.5 → 200/s, whereas the mean of
    // the per-sample quotients would overestimate (400 + 133) / 2 = 267/s.
    for (i, t) in (0..=60_000).step_by(10_000).enumerate() {
        let busy = if i % 2 == 0 { 0.25 } else { 0.75 };
        w.push(mk_sample(t, 2, 1, 50.0, busy, 0), W);
    }
    let sum = w.summarize(60_000, W, 2).unwrap();
    let tr = sum.true_rate_per_worker.unwrap();
    // 7 samples: 4 × 0.25 + 3 × 0.75 = 3.25 busy, 7 × 100 processed.
    assert!((tr - 700.0 / 3.25).abs() < 1e-9, "{tr}");
}

#[test]
fn arrival_is_derived_from_lag_growth_when_not_reported() {
    let mut w = MetricsWindow::new();
    for (i, t) in (0..=60_000).step_by(15_000).enumerate() {
        let mut s = mk_sample(t, 2, 1, 100.0, 0.9, 1_000 + 1_500 * i as i64);
        for p in &mut s.workers[0].partitions {
            p.arrival_rate = None;
        }
        w.push(s, W);
    }
    let sum = w.summarize(60_000, W, 2).unwrap();
    let p = &sum.partitions[0];
    assert!(p.arrival_derived);
    // Lag grew 6,000 records in 60 s → 100/s on top of the 100/s processed.
    assert!((p.arrival_rate - 200.0).abs() < 1e-9, "{}", p.arrival_rate);
    assert_eq!(p.lag, 7_000, "lag is the latest level");
}

#[test]
fn missing_partitions_and_stale_windows_are_incomplete() {
    let mut w = MetricsWindow::new();
    assert_eq!(w.summarize(0, W, 4), Err(Incomplete::Empty));
    w.push(mk_sample(0, 4, 2, 10.0, 0.5, 0), W);
    let err = w.summarize(0, W, 6).unwrap_err();
    assert_eq!(err, Incomplete::MissingPartitions(vec![4, 5]));
    assert!(err.to_string().contains("4, 5"), "{err}");
    let stale = w.summarize(31_000, W, 4).unwrap_err();
    assert!(matches!(stale, Incomplete::Stale { .. }));
    assert!(stale.to_string().contains("31s"), "{stale}");
}

#[test]
fn garbage_figures_are_ignored() {
    let mut w = MetricsWindow::new();
    let mut s = mk_sample(0, 2, 1, 10.0, 0.5, 0);
    s.workers[0].partitions[0].processed_rate = f64::NAN;
    s.workers[0].partitions[1].arrival_rate = Some(-3.0);
    s.workers[0].busy_ratio = Some(7.0);
    w.push(s, W);
    let sum = w.summarize(0, W, 2).unwrap();
    assert_eq!(sum.partitions[0].processed_rate, 0.0);
    // Arrival not usable → derived (single sample, no lag growth: processed).
    assert!(sum.partitions[1].arrival_derived);
    assert_eq!(sum.workers[0].busy_ratio, 1.0, "clamped");
    assert_eq!(sum.true_rate_per_worker, Some(10.0));
}

#[test]
fn samples_from_worker_statuses_keep_running_workers_only() {
    let status = |name: &str, phase| WorkerStatus {
        worker: name.into(),
        job: "j".into(),
        model_version: "m".into(),
        phase,
        partitions: vec![PartitionStatus {
            partition: 3,
            committed_offsets: [0, 0, 0],
            lag: Some(42),
            watermark_ms: None,
            state_bytes: 0,
            processed_per_sec: 12.5,
        }],
        last_checkpoint: None,
        last_savepoint: None,
        consecutive_failed_checkpoints: 0,
        state_bytes: 0,
        busy_ratio: 0.4,
        input_partitions: None,
    };
    let a = status("a", WorkerPhase::Running);
    let b = status("b", WorkerPhase::Recovering);
    let s = Sample::from_statuses(7, [&a, &b]);
    assert_eq!(s.at_ms, 7);
    assert_eq!(s.workers.len(), 1);
    assert_eq!(s.workers[0].busy_ratio, Some(0.4));
    assert_eq!(s.workers[0].partitions[0].lag, Some(42));
    assert_eq!(s.workers[0].partitions[0].processed_rate, 12.5);
    assert_eq!(s.workers[0].partitions[0].arrival_rate, None);
}
