//! What the autoscaler tests share: the `sluice.dev/autoscale*` annotations with windows of seconds instead
//! of the production minutes (scale-down held for an hour, so only a burst's scale-up happens), and dense
//! input for a lag burst.

use crate::input::InputBatches;

/// 2,000 events/s of event time, 2 ‰ malformed, batches 10 minutes apart in event time, over 4 partitions.
pub const LAG_BURST_INPUT: InputBatches = InputBatches {
    events_per_second: 2_000,
    malformed_per_mille: 2,
    spacing_ms: 600_000,
    ..InputBatches::new(900, 4)
};

/// The annotations (name → value) of a job the autoscaler may scale between 1 and 4 workers within seconds.
pub fn fast_autoscaler_annotations() -> serde_json::Value {
    serde_json::json!({
        "sluice.dev/autoscale": "true",
        "sluice.dev/autoscale-min": "1",
        "sluice.dev/autoscale-max": "4",
        "sluice.dev/autoscale-metrics-window": "8s",
        "sluice.dev/autoscale-catch-up": "2s",
        "sluice.dev/autoscale-restart-time": "5s",
        "sluice.dev/autoscale-scale-up-stabilization": "2s",
        "sluice.dev/autoscale-scale-down-stabilization": "1h",
    })
}
