//! Job parameters that shape event-time semantics.
//!
//! They are part of the determinism contract: two runs agree only if they use the same params, so
//! the worker must take them from the job spec (never from local defaults on one replica only).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::card_state::DAY_MS;

/// Longest accepted out-of-orderness or lateness: beyond this the windows would be meaningless.
pub const MAX_DELAY_MS: i64 = DAY_MS;
/// Longest accepted state TTL (about 10 years).
pub const MAX_TTL_MS: i64 = 3650 * DAY_MS;

/// Event-time parameters for one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    /// Watermark = max event time seen − this. Default 5 000 ms: mobile/offline authorizations
    /// routinely arrive a few seconds behind newer ones.
    pub out_of_orderness_ms: i64,
    /// Extra grace after the watermark before an event is routed to the late topic instead of
    /// being processed. Default 2 000 ms: absorbs producer retries without holding state longer
    /// than needed (pruning keeps `watermark − allowed_lateness − 1 h` of raw auths).
    pub allowed_lateness_ms: i64,
    /// A card with no event newer than `watermark − state_ttl_ms` is forgotten. Default 45 days:
    /// longer than the 30-day average lookback, so active cards never lose their baseline.
    pub state_ttl_ms: i64,
}

impl Default for JobParams {
    fn default() -> Self {
        Self {
            out_of_orderness_ms: 5_000,
            allowed_lateness_ms: 2_000,
            state_ttl_ms: 45 * DAY_MS,
        }
    }
}

/// Why job parameters were rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("job parameter {field}: must be between {min} and {max} ms, got {value}")]
pub struct ParamsError {
    pub field: &'static str,
    pub value: i64,
    pub min: i64,
    pub max: i64,
}

impl JobParams {
    /// Range-check every parameter (the processor itself never panics on odd values, but they
    /// would produce meaningless results).
    pub fn validate(&self) -> Result<(), ParamsError> {
        let checks = [
            (
                "out_of_orderness_ms",
                self.out_of_orderness_ms,
                0,
                MAX_DELAY_MS,
            ),
            (
                "allowed_lateness_ms",
                self.allowed_lateness_ms,
                0,
                MAX_DELAY_MS,
            ),
            ("state_ttl_ms", self.state_ttl_ms, 1, MAX_TTL_MS),
        ];
        for (field, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return Err(ParamsError {
                    field,
                    value,
                    min,
                    max,
                });
            }
        }
        Ok(())
    }

    /// Watermark for a given max event time.
    pub fn watermark_for(&self, max_event_time_ms: Option<i64>) -> Option<i64> {
        max_event_time_ms.map(|m| m.saturating_sub(self.out_of_orderness_ms))
    }

    /// Events strictly before this are late.
    pub fn late_cutoff(&self, watermark_ms: Option<i64>) -> Option<i64> {
        watermark_ms.map(|w| w.saturating_sub(self.allowed_lateness_ms))
    }

    /// Cards whose `last_event_time_ms` is strictly below this are expired; the worker's sweep
    /// may delete them (same result as the processor treating them as absent).
    pub fn ttl_cutoff(&self, watermark_ms: Option<i64>) -> Option<i64> {
        watermark_ms.map(|w| w.saturating_sub(self.state_ttl_ms))
    }
}
