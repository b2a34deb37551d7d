//! `status.autoscaler`: what the autoscaler (issue 7, `sluice.dev/autoscale*` annotations) decided, why, and
//! from which figures — so a rescale is never opaque and a missing one can be explained from `kubectl get -o
//! yaml` alone.
//!
//! Rates are records per second, lags are records, utilizations are fractions in `0..=1`. Figures are rounded
//! to two decimals when written (status churn from noise in the fourth decimal helps nobody). Lists are
//! bounded ([`MAX_LISTED`]) so a 10,000-partition job keeps a small status; the hottest entries are kept.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// At most this many partitions and workers are listed in [`AutoscalerMetrics`]; the rest are counted in
/// `partitionsOmitted` / `workersOmitted`.
pub const MAX_LISTED: usize = 16;

/// The autoscaler's view of the job, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerStatus {
    /// Whether `sluice.dev/autoscale: "true"` is set (and the annotations are valid).
    pub enabled: bool,
    /// The latest evaluation: what the autoscaler is doing right now and why (e.g. waiting for the metrics
    /// window to refill, or holding a recommendation through its stabilization window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<AutoscalerEvaluation>,
    /// The latest rescale the autoscaler ordered, with the figures it was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<AutoscalerDecision>,
    /// Invalid `sluice.dev/autoscale*` annotations; while any is listed the autoscaler does nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<AnnotationProblem>,
    /// The recommendations the stabilization windows are judged on, so that an operator restart or a new
    /// leader continues the windows instead of starting them again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<AutoscalerHistory>,
}

/// Most recommendations kept in `status.autoscaler.history`. A run of equal recommendations is kept as its
/// first and last, so a steady load needs two entries however long the window.
pub const MAX_HISTORY: usize = 128;

/// The autoscaler's recent recommendations at one parallelism.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerHistory {
    /// The parallelism the recommendations were computed at; a history of another layout is discarded.
    pub parallelism: i32,
    /// Oldest first, at most [`MAX_HISTORY`].
    #[schemars(length(max = 128))]
    pub recommendations: Vec<RecordedRecommendation>,
}

/// One evaluation's recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRecommendation {
    /// When it was computed (unix milliseconds: the windows compare times to the millisecond).
    pub at_ms: i64,
    /// The worker count it called for.
    pub workers: i32,
}

/// One rescale ordered by the autoscaler (executed as a savepoint upgrade of `spec.parallelism`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerDecision {
    /// Parallelism before the rescale.
    pub from: i32,
    /// Parallelism ordered.
    pub to: i32,
    /// `ScaleUp` or `ScaleDown`.
    pub reason: AutoscalerReason,
    /// Human-readable explanation: required rate, capacity per worker, alignment, bounds applied.
    pub message: String,
    /// When the decision was taken (RFC 3339).
    pub time: String,
    /// The figures the decision was computed from.
    pub metrics: AutoscalerMetrics,
}

/// The outcome of the latest evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerEvaluation {
    /// Why the autoscaler holds (or that it just scaled).
    pub reason: AutoscalerReason,
    /// Human-readable explanation, including when a pending decision would take effect.
    pub message: String,
    /// Since when this reason holds (RFC 3339); unchanged while the reason stays the same.
    pub since: String,
    /// The parallelism the figures call for right now, if they could be computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended: Option<i32>,
    /// The figures of the latest evaluation, if the metrics window was full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<AutoscalerMetrics>,
}

/// Why the autoscaler scaled or held. PascalCase, as in Events and conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AutoscalerReason {
    /// Parallelism raised: the required rate exceeded the workers' capacity at the target utilization.
    ScaleUp,
    /// Parallelism lowered: fewer workers carry the required rate at the target utilization.
    ScaleDown,
    /// The recommendation equals the current parallelism.
    WithinTarget,
    /// A rescale is recommended (it passed its stabilization window) and not applied:
    /// `sluice.dev/autoscale-mode: advise`.
    Advised,
    /// A different parallelism is recommended but has not persisted for its stabilization window yet.
    Stabilizing,
    /// An upgrade or the previous rescale is in progress; metrics are collected again once it is done.
    UpgradeInProgress,
    /// The metrics window is still filling (after a start, restart or rescale).
    MetricsWindowFilling,
    /// Metrics are missing for some partitions or workers, or stopped arriving.
    MetricsIncomplete,
    /// Records are waiting but no worker reports busy time, so the capacity per worker is unknown.
    NoCapacityEstimate,
    /// `sluice.dev/autoscale` is not `"true"`.
    Disabled,
    /// An annotation is invalid; see `problems`.
    InvalidAnnotations,
}

impl AutoscalerReason {
    /// The reason as written in status and Events.
    pub fn as_str(self) -> &'static str {
        match self {
            AutoscalerReason::ScaleUp => "ScaleUp",
            AutoscalerReason::ScaleDown => "ScaleDown",
            AutoscalerReason::WithinTarget => "WithinTarget",
            AutoscalerReason::Advised => "Advised",
            AutoscalerReason::Stabilizing => "Stabilizing",
            AutoscalerReason::UpgradeInProgress => "UpgradeInProgress",
            AutoscalerReason::MetricsWindowFilling => "MetricsWindowFilling",
            AutoscalerReason::MetricsIncomplete => "MetricsIncomplete",
            AutoscalerReason::NoCapacityEstimate => "NoCapacityEstimate",
            AutoscalerReason::Disabled => "Disabled",
            AutoscalerReason::InvalidAnnotations => "InvalidAnnotations",
        }
    }
}

/// The figures an evaluation used, averaged over the metrics window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerMetrics {
    /// Length of the metrics window (e.g. `5m`).
    pub window: String,
    /// Metric samples in the window.
    pub samples: i32,
    /// Records per second appended to the input, summed over partitions.
    pub arrival_rate: f64,
    /// Records per second processed, summed over partitions.
    pub processed_rate: f64,
    /// Records behind the log end, summed over partitions (latest sample).
    pub lag: i64,
    /// Records per second one worker processes when 100% busy (processed / busy ratio, busy-time weighted
    /// over workers and samples).
    pub true_rate_per_worker: f64,
    /// Records per second the job must process: arrival + (lag + arrival × restartTime) / catchUp.
    pub required_rate: f64,
    /// `sluice.dev/autoscale-target-utilization`.
    pub target_utilization: f64,
    /// Catch-up time used (e.g. `5m`).
    pub catch_up: String,
    /// Restart time used (e.g. `2m`).
    pub restart_time: String,
    /// `measured` (from the last rescale) or `configured`.
    pub restart_time_source: String,
    /// Unaligned worker count: required rate / (true rate per worker × target utilization).
    pub target_workers: f64,
    /// Worker count after partition alignment, bounds and the scale-down limit.
    pub recommended: i32,
    /// The busiest worker's required rate divided by its capacity at the recommended parallelism (1.0 =
    /// exactly the target utilization).
    pub peak_load: f64,
    /// Per-partition figures, hottest (highest required rate) first, at most 16.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<PartitionMetrics>,
    /// Partitions not listed in `partitions`.
    #[serde(default)]
    pub partitions_omitted: i32,
    /// Per-worker figures, busiest first, at most 16.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerMetrics>,
    /// Workers not listed in `workers`.
    #[serde(default)]
    pub workers_omitted: i32,
}

/// Figures of one input partition, averaged over the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionMetrics {
    /// Partition number.
    pub partition: i32,
    /// Records per second appended (reported, or derived from processed rate + lag growth).
    pub arrival_rate: f64,
    /// Records per second processed.
    pub processed_rate: f64,
    /// Records behind the log end (latest sample).
    pub lag: i64,
    /// Records per second this partition needs: arrival + (lag + arrival × restartTime) / catchUp.
    pub required_rate: f64,
    /// Processed rate divided by the owning worker's busy ratio: what this partition alone would get from a
    /// fully busy worker at the current layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub true_rate: Option<f64>,
}

/// Figures of one worker, averaged over the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerMetrics {
    /// Worker (pod) name.
    pub worker: String,
    /// Fraction of wall time spent processing, 0..1.
    pub busy_ratio: f64,
    /// Records per second processed over its partitions.
    pub processed_rate: f64,
    /// Partitions it owned in the latest sample.
    pub partitions: i32,
}

/// An invalid autoscaler annotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnnotationProblem {
    /// The annotation, e.g. `sluice.dev/autoscale-max`.
    pub annotation: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> AutoscalerMetrics {
        AutoscalerMetrics {
            window: "5m".into(),
            samples: 20,
            arrival_rate: 1200.0,
            processed_rate: 1100.0,
            lag: 3000,
            true_rate_per_worker: 500.0,
            required_rate: 1500.0,
            target_utilization: 0.7,
            catch_up: "5m".into(),
            restart_time: "2m".into(),
            restart_time_source: "configured".into(),
            target_workers: 4.29,
            recommended: 6,
            peak_load: 0.71,
            partitions: vec![PartitionMetrics {
                partition: 3,
                arrival_rate: 100.0,
                processed_rate: 90.0,
                lag: 250,
                required_rate: 141.67,
                true_rate: Some(180.0),
            }],
            partitions_omitted: 11,
            workers: vec![WorkerMetrics {
                worker: "fraud-0".into(),
                busy_ratio: 0.5,
                processed_rate: 270.0,
                partitions: 3,
            }],
            workers_omitted: 3,
        }
    }

    #[test]
    fn status_json_is_camel_case_with_pascal_case_reasons() {
        let st = AutoscalerStatus {
            enabled: true,
            current: Some(AutoscalerEvaluation {
                reason: AutoscalerReason::Stabilizing,
                message: "scale-up to 6 recommended".into(),
                since: "2026-01-01T00:00:00Z".into(),
                recommended: Some(6),
                metrics: None,
            }),
            last_decision: Some(AutoscalerDecision {
                from: 4,
                to: 6,
                reason: AutoscalerReason::ScaleUp,
                message: "m".into(),
                time: "2026-01-01T00:01:00Z".into(),
                metrics: metrics(),
            }),
            problems: vec![AnnotationProblem {
                annotation: "sluice.dev/autoscale-max".into(),
                message: "not a number".into(),
            }],
            history: Some(AutoscalerHistory {
                parallelism: 4,
                recommendations: vec![RecordedRecommendation {
                    at_ms: 1_767_225_600_000,
                    workers: 6,
                }],
            }),
        };
        let v = serde_json::to_value(&st).unwrap();
        assert_eq!(
            v["history"]["recommendations"][0]["atMs"],
            1_767_225_600_000i64
        );
        assert_eq!(v["current"]["reason"], "Stabilizing");
        assert_eq!(v["lastDecision"]["reason"], "ScaleUp");
        assert_eq!(v["lastDecision"]["from"], 4);
        let m = &v["lastDecision"]["metrics"];
        for key in [
            "arrivalRate",
            "processedRate",
            "trueRatePerWorker",
            "requiredRate",
            "targetUtilization",
            "catchUp",
            "restartTime",
            "restartTimeSource",
            "targetWorkers",
            "peakLoad",
            "partitionsOmitted",
            "workersOmitted",
        ] {
            assert!(m.get(key).is_some(), "missing {key} in {m}");
        }
        assert_eq!(m["partitions"][0]["requiredRate"], 141.67);
        assert_eq!(m["partitions"][0]["trueRate"], 180.0);
        assert_eq!(m["workers"][0]["busyRatio"], 0.5);
        assert_eq!(v["problems"][0]["annotation"], "sluice.dev/autoscale-max");
        let back: AutoscalerStatus = serde_json::from_value(v).unwrap();
        assert_eq!(back, st);
    }

    #[test]
    fn empty_status_omits_optional_parts() {
        let v = serde_json::to_value(AutoscalerStatus::default()).unwrap();
        assert_eq!(v, serde_json::json!({ "enabled": false }));
        let back: AutoscalerStatus = serde_json::from_str(r#"{"enabled":false}"#).unwrap();
        assert_eq!(back, AutoscalerStatus::default());
    }

    #[test]
    fn reason_strings_match_serde() {
        for r in [
            AutoscalerReason::ScaleUp,
            AutoscalerReason::ScaleDown,
            AutoscalerReason::WithinTarget,
            AutoscalerReason::Stabilizing,
            AutoscalerReason::UpgradeInProgress,
            AutoscalerReason::MetricsWindowFilling,
            AutoscalerReason::MetricsIncomplete,
            AutoscalerReason::NoCapacityEstimate,
            AutoscalerReason::Disabled,
            AutoscalerReason::InvalidAnnotations,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    #[test]
    fn schema_documents_every_field() {
        let schema = schemars::schema_for!(AutoscalerStatus);
        let text = serde_json::to_string(&schema).unwrap();
        // Every property object carries a description (what `kubectl explain` shows).
        fn walk(v: &serde_json::Value, path: &str) -> usize {
            let mut seen = 0;
            if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
                for (k, p) in props {
                    seen += 1;
                    assert!(
                        p.get("description").is_some(),
                        "{path}.{k} has no description"
                    );
                }
            }
            if let Some(defs) = v.get("$defs").and_then(|d| d.as_object()) {
                for (k, d) in defs {
                    seen += walk(d, k);
                }
            }
            seen
        }
        // 5 + 6 + 5 + 18 + 6 + 4 + 2 + 2 + 2 properties: the walk really reached every struct.
        assert_eq!(walk(&schema.to_value(), "AutoscalerStatus"), 50);
        assert!(text.contains("MetricsWindowFilling"));
    }
}
