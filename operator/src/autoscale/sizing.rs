//! How many workers the figures call for (pure): required rate → capacity per worker → partition-aligned
//! worker count → bounds → scale-down limit.
//!
//! **Capacity per worker.** A worker's busy ratio covers all its partitions (it processes them on one
//! pipeline), so the per-partition true rate `processed_p / busy_w` is partition `p`'s share of its
//! worker's capacity, and summing it over the worker's partitions gives the worker's true rate
//! `Σ processed / busy` — the records per second one worker handles when 100% busy. That is what "per-worker
//! true rate = per-partition true rate × partitions per worker" means, and it is a property of the worker
//! (its CPU and the per-record cost), *not* of how many partitions it owns: moving partitions onto a worker
//! does not make it faster. The window estimates it busy-time-weighted over all workers
//! ([`super::metrics`]), assuming every record costs about the same on every partition (one pipeline).
//!
//! **Required rate.** Per partition: `arrival + lag / catchUp` to stay as is. A rescale stops the job for the
//! restart time while records keep arriving, so a *new* parallelism must also absorb that backlog:
//! `arrival + (lag + arrival × restartTime) / catchUp`. The first decides whether the current parallelism
//! still suffices; the second sizes any new one. This asymmetry is deliberate hysteresis: a rescale must pay
//! for its own restart.
//!
//! **Alignment.** Partitions are whole units (`sluice_crds::assignment`: contiguous balanced ranges), so
//! with 12 partitions 5 workers are no better than 4 (someone still owns 3). A count is *aligned* when no
//! smaller count gives the same maximum partitions per worker. The target is the smallest aligned count
//! whose busiest worker — computed with the real per-partition required rates and the real assignment, so
//! skew counts — stays within `true rate × target utilization`. If no count achieves that (one hot partition
//! alone exceeds a worker), the smallest count that minimizes the busiest worker's load is taken and the
//! explanation says more workers cannot help.

use sluice_crds::Millis;

use super::config::AutoscaleConfig;
use super::metrics::WindowSummary;

/// Rates below this (records/s) count as "nothing to do".
const IDLE_RATE: f64 = 1e-6;
/// Relative slack for float comparisons of loads against capacity.
const SLACK: f64 = 1e-9;

/// Why no worker count could be computed.
#[derive(Clone, Debug, PartialEq)]
pub enum SizingError {
    /// Records must be processed but no worker was ever busy, so capacity per worker is unknown.
    NoCapacityEstimate { required_rate: f64 },
}

/// A step that moved the recommendation away from the plain target, for the explanation.
#[derive(Clone, Debug, PartialEq)]
pub enum Adjustment {
    /// `target` workers rounded up to the aligned count `to`.
    Aligned {
        target: f64,
        to: u32,
    },
    /// Partition `partition` alone needs more than one worker's capacity.
    HotPartition {
        partition: i32,
        required: f64,
    },
    /// The current parallelism still carries the load; no need to pay a restart to grow.
    CurrentSuffices,
    CappedAtMax {
        max: u32,
    },
    RaisedToMin {
        min: u32,
    },
    /// The scale-down limit keeps at least `floor` workers.
    ScaleDownLimited {
        floor: u32,
    },
    /// The scale-up limit allows at most `ceiling` workers.
    ScaleUpLimited {
        ceiling: u32,
    },
}

/// The outcome of sizing.
#[derive(Clone, Debug, PartialEq)]
pub struct Sizing {
    /// Per partition `0..P`: required rate for a new parallelism (includes the restart backlog).
    pub required: Vec<f64>,
    pub required_rate: f64,
    /// Records/s one worker handles when fully busy (None: unknown, only possible for an idle job).
    pub true_rate_per_worker: Option<f64>,
    /// Restart time used and whether it was measured.
    pub restart_time: Millis,
    pub restart_measured: bool,
    /// `required_rate / (true rate × target utilization)`.
    pub target_workers: f64,
    /// The recommendation.
    pub recommended: u32,
    /// Busiest worker's required rate / allowed rate at the recommendation (1.0 = at target utilization).
    pub peak_load: f64,
    pub adjustments: Vec<Adjustment>,
}

/// Sizes the job. `current` is the deployed parallelism (≥ 1), `measured_restart` the restart time of the
/// last rescale if it was measured.
pub fn size(
    summary: &WindowSummary,
    cfg: &AutoscaleConfig,
    partitions: u32,
    current: u32,
    measured_restart: Option<Millis>,
) -> Result<Sizing, SizingError> {
    let restart_time = measured_restart.unwrap_or(cfg.restart_time);
    let catch_up_s = secs(cfg.catch_up).max(1e-3);
    let restart_s = secs(restart_time);
    let stay: Vec<f64> = summary
        .partitions
        .iter()
        .map(|p| p.arrival_rate + p.lag as f64 / catch_up_s)
        .collect();
    let moving: Vec<f64> = summary
        .partitions
        .iter()
        .map(|p| p.arrival_rate + (p.lag as f64 + p.arrival_rate * restart_s) / catch_up_s)
        .collect();
    let required_rate: f64 = moving.iter().sum();
    let allowed = summary
        .true_rate_per_worker
        .map(|r| r * cfg.target_utilization);
    let mut adjustments = Vec::new();
    let (target_workers, ideal) = match allowed {
        _ if required_rate <= IDLE_RATE => (0.0, 1),
        None => return Err(SizingError::NoCapacityEstimate { required_rate }),
        Some(cap) => {
            let target = required_rate / cap;
            let (n, fits) = smallest_fitting(&moving, partitions, target, cap);
            if !fits && let Some((partition, required)) = hottest(&moving) {
                adjustments.push(Adjustment::HotPartition {
                    partition,
                    required,
                });
            }
            if n != target.ceil() as u32 {
                adjustments.push(Adjustment::Aligned { target, to: n });
            }
            let stays_fine = max_load(&prefix(&stay), partitions, current) <= cap * (1.0 + SLACK);
            if stays_fine && n > current {
                adjustments.push(Adjustment::CurrentSuffices);
                (target, current)
            } else {
                (target, n)
            }
        }
    };
    let recommended = bound(ideal, current, partitions, cfg, &mut adjustments);
    let peak_load = match allowed {
        Some(cap) if cap > 0.0 => max_load(&prefix(&moving), partitions, recommended) / cap,
        _ => 0.0,
    };
    Ok(Sizing {
        required: moving,
        required_rate,
        true_rate_per_worker: summary.true_rate_per_worker,
        restart_time,
        restart_measured: measured_restart.is_some(),
        target_workers,
        recommended,
        peak_load,
        adjustments,
    })
}

/// Applies min/max and the scale-down limit, staying aligned where the bounds allow it.
fn bound(
    ideal: u32,
    current: u32,
    partitions: u32,
    cfg: &AutoscaleConfig,
    adj: &mut Vec<Adjustment>,
) -> u32 {
    let p = partitions.max(1);
    let (lo, hi) = bounds(cfg, p);
    let mut n = ideal.clamp(1, p);
    if n > hi {
        let a = largest_aligned_at_most(p, hi);
        n = if a >= lo { a } else { hi };
        adj.push(Adjustment::CappedAtMax { max: hi });
    }
    if n < lo {
        let a = smallest_aligned_at_least(p, lo);
        n = if a <= hi { a } else { lo };
        adj.push(Adjustment::RaisedToMin { min: lo });
    }
    if n < current {
        // `max` wins over the limit: a user who lowers it below the current count gets it.
        let floor = scale_down_floor(current, cfg.scale_down_max_factor).clamp(lo, hi);
        if n < floor {
            let a = smallest_aligned_at_least(p, floor);
            n = if a < current && a <= hi {
                a
            } else {
                floor.min(current)
            };
            adj.push(Adjustment::ScaleDownLimited { floor });
        }
    }
    if n > current
        && let Some(factor) = cfg.scale_up_max_factor
    {
        // `min` wins over the limit, as `max` wins over the scale-down limit.
        let ceiling = scale_up_ceiling(current, factor).clamp(lo, hi);
        if n > ceiling {
            let a = largest_aligned_at_most(p, ceiling);
            n = if a > current && a >= lo {
                a
            } else {
                ceiling.max(current)
            };
            adj.push(Adjustment::ScaleUpLimited { ceiling });
        }
    }
    n
}

/// `[min, max]` of the config intersected with `[1, partitions]` (never more workers than partitions).
pub fn bounds(cfg: &AutoscaleConfig, partitions: u32) -> (u32, u32) {
    let p = partitions.max(1);
    let lo = cfg.min.clamp(1, p);
    let hi = cfg.max.unwrap_or(p).clamp(lo, p);
    (lo, hi)
}

/// Fewest workers a scale-down from `current` may leave: `ceil(current × (1 − factor))`.
pub fn scale_down_floor(current: u32, factor: f64) -> u32 {
    let keep = f64::from(current) * (1.0 - factor.clamp(0.0, 1.0));
    ((keep - SLACK).ceil() as u32).max(1)
}

/// Most workers a scale-up from `current` may reach: `floor(current × (1 + factor))`, and at least one more.
pub fn scale_up_ceiling(current: u32, factor: f64) -> u32 {
    let grown = f64::from(current.max(1)) * (1.0 + factor.max(0.0));
    // `as` saturates: a huge factor is simply no limit.
    ((grown + SLACK).floor() as u32).max(current.saturating_add(1))
}

/// Largest number of partitions a worker owns with `n` workers.
pub fn max_per_worker(partitions: u32, n: u32) -> u32 {
    partitions.div_ceil(n.max(1))
}

/// No smaller worker count gives the same maximum partitions per worker.
pub fn is_aligned(partitions: u32, n: u32) -> bool {
    n >= 1
        && n <= partitions
        && (n == 1 || max_per_worker(partitions, n - 1) > max_per_worker(partitions, n))
}

/// Smallest aligned count ≥ `n` (clamped into `1..=partitions`).
pub fn smallest_aligned_at_least(partitions: u32, n: u32) -> u32 {
    let p = partitions.max(1);
    let n = n.clamp(1, p);
    if is_aligned(p, n) {
        return n;
    }
    // Same max-per-worker k as n-1: the next aligned count is the first with at most k-1 per worker.
    let k = max_per_worker(p, n);
    p.div_ceil(k.saturating_sub(1).max(1))
}

/// Largest aligned count ≤ `n`: the fewest workers with the same max partitions per worker as `n`.
pub fn largest_aligned_at_most(partitions: u32, n: u32) -> u32 {
    let p = partitions.max(1);
    p.div_ceil(max_per_worker(p, n.clamp(1, p)))
}

/// Smallest aligned count ≥ `target` whose busiest worker stays within `cap`; if none does, the smallest
/// count minimizing the busiest worker's load. Returns (count, whether it fits).
fn smallest_fitting(required: &[f64], partitions: u32, target: f64, cap: f64) -> (u32, bool) {
    let p = partitions.max(1);
    let sums = prefix(required);
    let start = (target - SLACK).ceil().clamp(1.0, f64::from(p)) as u32;
    let mut n = smallest_aligned_at_least(p, start);
    let mut best = (n, f64::INFINITY);
    loop {
        let load = max_load(&sums, p, n);
        if load <= cap * (1.0 + SLACK) {
            return (n, true);
        }
        if load < best.1 * (1.0 - SLACK) {
            best = (n, load);
        }
        if n >= p {
            return (best.0, false);
        }
        n = smallest_aligned_at_least(p, n + 1);
    }
}

fn prefix(xs: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(xs.len() + 1);
    out.push(0.0);
    let mut acc = 0.0;
    for x in xs {
        acc += x;
        out.push(acc);
    }
    out
}

/// The busiest worker's required rate with `n` workers over `partitions` contiguous balanced ranges (the
/// layout of `sluice_crds::assignment::assign_partitions`).
fn max_load(prefix: &[f64], partitions: u32, n: u32) -> f64 {
    let n = n.clamp(1, partitions.max(1));
    let (base, extra) = (partitions / n, partitions % n);
    let mut start = 0usize;
    let mut worst: f64 = 0.0;
    for w in 0..n {
        let len = (base + u32::from(w < extra)) as usize;
        let end = (start + len).min(prefix.len().saturating_sub(1));
        let s = start.min(end);
        worst = worst.max(prefix[end] - prefix[s]);
        start += len;
    }
    worst
}

fn hottest(required: &[f64]) -> Option<(i32, f64)> {
    required
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .and_then(|(i, r)| i32::try_from(i).ok().map(|i| (i, *r)))
}

fn secs(d: Millis) -> f64 {
    d.as_millis() as f64 / 1000.0
}

#[cfg(test)]
#[path = "sizing_tests.rs"]
mod tests;
