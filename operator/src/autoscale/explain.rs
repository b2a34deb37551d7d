//! Human-readable explanations and the `status.autoscaler` figures of a sizing (pure). Opaque autoscaling
//! decisions are a known pain point of Flink's autoscaler; every message here says which figures led to
//! the number and which rule (alignment, bounds, scale-down limit, hot partition) moved it.

use sluice_crds::autoscaler::{AutoscalerMetrics, MAX_LISTED, PartitionMetrics, WorkerMetrics};

use super::config::{AutoscaleConfig, MAX, MIN, SCALE_DOWN_MAX_FACTOR, SCALE_UP_MAX_FACTOR};
use super::metrics::WindowSummary;
use super::sizing::{Adjustment, Sizing, max_per_worker};
use crate::saturating;

/// Rounds to two decimals (status figures; noise in further decimals only churns the status).
pub fn round2(x: f64) -> f64 {
    if x.is_finite() {
        (x * 100.0).round() / 100.0
    } else {
        0.0
    }
}

/// "required 2100/s (arrival 1500/s, lag 3000 over catch-up 5m, 2m restart backlog); one worker does
/// 500/s fully busy, 350/s at target utilization 0.7 → 6.0 workers".
pub fn figures(sizing: &Sizing, summary: &WindowSummary, cfg: &AutoscaleConfig) -> String {
    let arrival: f64 = summary.partitions.iter().map(|p| p.arrival_rate).sum();
    let lag: i64 = summary.partitions.iter().map(|p| p.lag).sum();
    let restart = format!(
        "{} {} restart",
        sizing.restart_time,
        if sizing.restart_measured {
            "measured"
        } else {
            "configured"
        }
    );
    let capacity = match sizing.true_rate_per_worker {
        Some(r) => format!(
            "one worker does {:.1}/s fully busy, {:.1}/s at target utilization {} → {:.2} workers",
            r,
            r * cfg.target_utilization,
            cfg.target_utilization,
            sizing.target_workers
        ),
        None => "no worker was busy (capacity unknown)".to_string(),
    };
    format!(
        "required {:.1}/s (arrival {:.1}/s, lag {lag} records to work off within catch-up {}, plus the \
         backlog of a {restart}); {capacity}",
        sizing.required_rate, arrival, cfg.catch_up
    )
}

/// One clause per adjustment, e.g. "aligned 4.80 → 6 workers (12 partitions: at most 2 per worker)".
pub fn adjustments(
    sizing: &Sizing,
    partitions: u32,
    current: u32,
    cfg: &AutoscaleConfig,
) -> Vec<String> {
    sizing
        .adjustments
        .iter()
        .map(|a| match a {
            Adjustment::Aligned { target, to } => {
                let k = max_per_worker(partitions, *to);
                format!(
                    "aligned {target:.2} → {to} workers ({partitions} partitions: at most {k} per worker; \
                     fewer workers would leave one owning more, with the busiest worker over its target load)"
                )
            }
            Adjustment::HotPartition { partition, required } => format!(
                "partition {partition} alone needs {required:.1}/s, more than one worker's {:.1}/s at the \
                 target utilization: more workers cannot help beyond isolating it (consider more partitions \
                 or salting the hot key)",
                sizing.true_rate_per_worker.unwrap_or(0.0) * cfg.target_utilization
            ),
            Adjustment::CurrentSuffices => format!(
                "the current {current} workers still carry arrival + lag within the target utilization; \
                 growing now would not pay for the restart"
            ),
            Adjustment::CappedAtMax { max } => format!("capped at {max} workers ({MAX} / partitions)"),
            Adjustment::RaisedToMin { min } => format!("raised to {min} workers ({MIN})"),
            Adjustment::ScaleDownLimited { floor } => format!(
                "a scale-down keeps at least {floor} of {current} workers ({SCALE_DOWN_MAX_FACTOR} {})",
                cfg.scale_down_max_factor
            ),
            Adjustment::ScaleUpLimited { ceiling } => format!(
                "a scale-up from {current} reaches at most {ceiling} workers ({SCALE_UP_MAX_FACTOR} {})",
                cfg.scale_up_max_factor.unwrap_or(0.0)
            ),
        })
        .collect()
}

/// The whole explanation of a recommendation.
pub fn recommendation(
    sizing: &Sizing,
    summary: &WindowSummary,
    cfg: &AutoscaleConfig,
    partitions: u32,
    current: u32,
) -> String {
    let mut parts = vec![figures(sizing, summary, cfg)];
    parts.extend(adjustments(sizing, partitions, current, cfg));
    parts.push(format!(
        "busiest worker at {:.0}% of its target load with {} workers",
        sizing.peak_load * 100.0,
        sizing.recommended
    ));
    parts.join("; ")
}

/// The figures written into `status.autoscaler`.
pub fn metrics(
    sizing: &Sizing,
    summary: &WindowSummary,
    cfg: &AutoscaleConfig,
) -> AutoscalerMetrics {
    let mut parts: Vec<PartitionMetrics> = summary
        .partitions
        .iter()
        .zip(&sizing.required)
        .map(|(p, required)| PartitionMetrics {
            partition: p.partition,
            arrival_rate: round2(p.arrival_rate),
            processed_rate: round2(p.processed_rate),
            lag: p.lag,
            required_rate: round2(*required),
            true_rate: p.true_rate.map(round2),
        })
        .collect();
    parts.sort_by(|a, b| {
        b.required_rate
            .total_cmp(&a.required_rate)
            .then(a.partition.cmp(&b.partition))
    });
    let partitions_omitted = parts.len().saturating_sub(MAX_LISTED);
    parts.truncate(MAX_LISTED);
    let mut workers: Vec<WorkerMetrics> = summary
        .workers
        .iter()
        .map(|w| WorkerMetrics {
            worker: w.worker.clone(),
            busy_ratio: round2(w.busy_ratio),
            processed_rate: round2(w.processed_rate),
            partitions: saturating::to_i32(w.partitions),
        })
        .collect();
    workers.sort_by(|a, b| {
        b.busy_ratio
            .total_cmp(&a.busy_ratio)
            .then(a.worker.cmp(&b.worker))
    });
    let workers_omitted = workers.len().saturating_sub(MAX_LISTED);
    workers.truncate(MAX_LISTED);
    AutoscalerMetrics {
        window: cfg.metrics_window.to_string(),
        samples: saturating::to_i32(summary.samples),
        arrival_rate: round2(summary.partitions.iter().map(|p| p.arrival_rate).sum()),
        processed_rate: round2(summary.partitions.iter().map(|p| p.processed_rate).sum()),
        lag: summary.partitions.iter().map(|p| p.lag).sum(),
        true_rate_per_worker: round2(sizing.true_rate_per_worker.unwrap_or(0.0)),
        required_rate: round2(sizing.required_rate),
        target_utilization: cfg.target_utilization,
        catch_up: cfg.catch_up.to_string(),
        restart_time: sizing.restart_time.to_string(),
        restart_time_source: if sizing.restart_measured {
            "measured"
        } else {
            "configured"
        }
        .to_string(),
        target_workers: round2(sizing.target_workers),
        recommended: saturating::to_i32(sizing.recommended),
        peak_load: round2(sizing.peak_load),
        partitions: parts,
        partitions_omitted: saturating::to_i32(partitions_omitted),
        workers,
        workers_omitted: saturating::to_i32(workers_omitted),
    }
}
