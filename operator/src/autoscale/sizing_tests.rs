//! Unit tests of sizing: the rate formulas, alignment, skew, bounds and the scale-down limit.

use super::*;
use crate::autoscale::metrics::PartitionSummary;

fn mk_summary(arrivals: &[f64], lags: &[i64], true_rate: Option<f64>) -> WindowSummary {
    WindowSummary {
        samples: 10,
        partitions: arrivals
            .iter()
            .zip(lags)
            .enumerate()
            .map(|(i, (a, l))| PartitionSummary {
                partition: i as i32,
                arrival_rate: *a,
                arrival_derived: false,
                processed_rate: *a,
                lag: *l,
                true_rate: None,
            })
            .collect(),
        workers: Vec::new(),
        true_rate_per_worker: true_rate,
    }
}

fn uniform(p: usize, arrival: f64, lag: i64, true_rate: f64) -> WindowSummary {
    mk_summary(&vec![arrival; p], &vec![lag; p], Some(true_rate))
}

fn cfg() -> AutoscaleConfig {
    AutoscaleConfig {
        enabled: true,
        ..AutoscaleConfig::default()
    }
}

#[test]
fn aligned_counts_of_twelve_partitions() {
    let aligned: Vec<u32> = (1..=12).filter(|n| is_aligned(12, *n)).collect();
    assert_eq!(aligned, vec![1, 2, 3, 4, 6, 12]);
    assert_eq!(smallest_aligned_at_least(12, 5), 6);
    assert_eq!(smallest_aligned_at_least(12, 7), 12);
    assert_eq!(smallest_aligned_at_least(12, 0), 1);
    assert_eq!(smallest_aligned_at_least(12, 40), 12);
    assert_eq!(largest_aligned_at_most(12, 5), 4);
    assert_eq!(largest_aligned_at_most(12, 11), 6);
    assert!(!is_aligned(12, 13));
}

#[test]
fn the_issue_formula_then_alignment() {
    // 12 partitions × 125/s, no lag; one worker does 500/s fully busy → 350/s at 0.7.
    // Current 4 workers carry 375/s each > 350: too slow. With the 2m restart backlog over 5m catch-up each
    // partition needs 125 × (1 + 120/300) = 175/s → 2,100/s → 6 workers exactly.
    let s = size(&uniform(12, 125.0, 0, 500.0), &cfg(), 12, 4, None).unwrap();
    assert!(
        (s.required_rate - 2100.0).abs() < 1e-6,
        "{}",
        s.required_rate
    );
    assert!(
        (s.target_workers - 6.0).abs() < 1e-9,
        "{}",
        s.target_workers
    );
    assert_eq!(s.recommended, 6);
    assert!((s.peak_load - 1.0).abs() < 1e-9, "{}", s.peak_load);
    assert!(!s.restart_measured);
}

#[test]
fn unaligned_targets_round_up_to_the_next_aligned_count() {
    // 135/s per partition → moving 189 → 2,268/s → 6.48 workers → 7 would still leave 2 partitions on some
    // worker (378 > 350), so the next aligned count, 12, is taken.
    let s = size(&uniform(12, 135.0, 0, 500.0), &cfg(), 12, 4, None).unwrap();
    assert_eq!(s.recommended, 12);
    assert!(s.adjustments.contains(&Adjustment::Aligned {
        target: s.target_workers,
        to: 12
    }));
}

#[test]
fn the_current_parallelism_is_kept_while_it_suffices_without_the_restart_backlog() {
    // 100/s per partition: 4 workers at 300/s each are within 350, although a *new* parallelism would have
    // to plan for 140/s per partition (6 workers).
    let s = size(&uniform(12, 100.0, 0, 500.0), &cfg(), 12, 4, None).unwrap();
    assert_eq!(s.recommended, 4);
    assert!(s.adjustments.contains(&Adjustment::CurrentSuffices));
}

#[test]
fn lag_is_worked_off_within_catch_up() {
    // Tiny arrival, but 300,000 records behind on each of 4 partitions: 1,000/s each over 5 minutes.
    let s = size(&uniform(4, 1.0, 300_000, 1_500.0), &cfg(), 4, 1, None).unwrap();
    // Per partition 1 + (300,000 + 120)/300 = 1,001.4/s; a worker allows 1,050/s → one partition each.
    assert_eq!(s.recommended, 4);
}

#[test]
fn skewed_partitions_size_by_the_busiest_worker() {
    // Partitions 0 and 1 are hot: 300/s each with the restart backlog, the other six 28/s. The total
    // 768/s fits 3 workers on average (3 × 350 = 1,050), but with 8 partitions over 3 workers worker 0 owns
    // 0,1,2 = 628/s > 350. 4 workers: {0,1} = 600/s. 5..7 are not aligned; 8: 300/s each. The busiest
    // worker decides.
    let mut arrivals = vec![20.0; 8];
    arrivals[0] = 300.0 / 1.4;
    arrivals[1] = 300.0 / 1.4;
    let s = size(
        &mk_summary(&arrivals, &[0; 8], Some(500.0)),
        &cfg(),
        8,
        2,
        None,
    )
    .unwrap();
    assert_eq!(s.recommended, 8);
    assert!(s.target_workers < 3.0, "{}", s.target_workers);
}

#[test]
fn a_partition_hotter_than_one_worker_is_explained() {
    let mut arrivals = vec![10.0; 6];
    arrivals[2] = 1_000.0;
    let s = size(
        &mk_summary(&arrivals, &[0; 6], Some(500.0)),
        &cfg(),
        6,
        1,
        None,
    )
    .unwrap();
    // No count fits; the smallest count isolating partition 2 is 6 (contiguous ranges: with 3 workers it
    // shares with 3; 6 isolates it).
    assert!(
        s.adjustments
            .iter()
            .any(|a| matches!(a, Adjustment::HotPartition { partition: 2, .. })),
        "{:?}",
        s.adjustments
    );
    assert_eq!(s.recommended, 6);
    assert!(s.peak_load > 1.0);
}

#[test]
fn bounds_keep_alignment_when_they_can() {
    let mut c = cfg();
    c.max = Some(5);
    let s = size(&uniform(12, 200.0, 0, 500.0), &c, 12, 4, None).unwrap();
    assert_eq!(
        s.recommended, 4,
        "5 workers are no better than 4 with 12 partitions"
    );
    assert!(s.adjustments.contains(&Adjustment::CappedAtMax { max: 5 }));
    let mut c = cfg();
    c.min = 5;
    let s = size(&uniform(12, 0.0, 0, 500.0), &c, 12, 6, None).unwrap();
    assert_eq!(s.recommended, 6);
    let mut c = cfg();
    c.min = 5;
    c.max = Some(5);
    let s = size(&uniform(12, 0.0, 0, 500.0), &c, 12, 6, None).unwrap();
    assert_eq!(
        s.recommended, 5,
        "no aligned count in [5, 5]: the user's bounds win"
    );
}

#[test]
fn an_idle_job_shrinks_by_at_most_the_factor() {
    let s = size(&uniform(12, 0.0, 0, 500.0), &cfg(), 12, 12, None).unwrap();
    assert_eq!(s.recommended, 6);
    assert!(
        s.adjustments
            .contains(&Adjustment::ScaleDownLimited { floor: 6 })
    );
    let mut c = cfg();
    c.scale_down_max_factor = 0.9;
    let s = size(&uniform(12, 0.0, 0, 500.0), &c, 12, 12, None).unwrap();
    assert_eq!(s.recommended, 2);
    // An idle job needs no capacity estimate.
    let s = size(&mk_summary(&[0.0; 4], &[0; 4], None), &cfg(), 4, 4, None).unwrap();
    assert_eq!(s.recommended, 2);
}

#[test]
fn the_scale_down_floor_rounds_up() {
    assert_eq!(scale_down_floor(12, 0.5), 6);
    assert_eq!(scale_down_floor(5, 0.5), 3);
    assert_eq!(scale_down_floor(1, 0.5), 1);
    assert_eq!(scale_down_floor(10, 0.25), 8);
}

#[test]
fn a_surge_grows_the_job_by_at_most_the_scale_up_factor() {
    // 12 partitions at 1,000/s each, one worker does 500/s: the load alone calls for all 12 workers.
    let load = uniform(12, 1_000.0, 0, 500.0);
    assert_eq!(size(&load, &cfg(), 12, 2, None).unwrap().recommended, 12);
    let mut c = cfg();
    c.scale_up_max_factor = Some(1.0);
    let s = size(&load, &c, 12, 2, None).unwrap();
    assert_eq!(s.recommended, 4, "2 workers may at most double");
    assert!(
        s.adjustments
            .contains(&Adjustment::ScaleUpLimited { ceiling: 4 })
    );
    // A ceiling between aligned counts takes the aligned one below it: 5 workers own as many partitions
    // each as 4 (at most 3) with 12 partitions.
    c.scale_up_max_factor = Some(1.5);
    assert_eq!(size(&load, &c, 12, 2, None).unwrap().recommended, 4);
    // `min` wins over the limit.
    c.min = 6;
    assert_eq!(size(&load, &c, 12, 2, None).unwrap().recommended, 6);
}

#[test]
fn the_scale_up_ceiling_adds_at_least_one_worker() {
    assert_eq!(scale_up_ceiling(2, 1.0), 4);
    assert_eq!(scale_up_ceiling(3, 0.4), 4);
    assert_eq!(scale_up_ceiling(3, 0.01), 4);
    assert_eq!(scale_up_ceiling(4, 1e300), u32::MAX);
}

#[test]
fn records_waiting_without_any_busy_worker_cannot_be_sized() {
    let err = size(&mk_summary(&[5.0; 4], &[0; 4], None), &cfg(), 4, 2, None).unwrap_err();
    assert!(matches!(err, SizingError::NoCapacityEstimate { .. }));
}

#[test]
fn a_measured_restart_time_replaces_the_configured_one() {
    let s = size(
        &uniform(12, 125.0, 0, 500.0),
        &cfg(),
        12,
        4,
        Some(Millis(30_000)),
    )
    .unwrap();
    assert!(s.restart_measured);
    assert_eq!(s.restart_time, Millis(30_000));
    // 125 × (1 + 30/300) = 137.5/s per partition → 1,650/s.
    assert!((s.required_rate - 1650.0).abs() < 1e-6);
}

#[test]
fn never_more_workers_than_partitions() {
    let s = size(&uniform(3, 10_000.0, 0, 100.0), &cfg(), 3, 1, None).unwrap();
    assert_eq!(s.recommended, 3);
}
