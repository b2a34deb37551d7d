//! The versioned scoring model: integer weights and thresholds loaded from YAML.
//!
//! Why integers only: a decision must be reproducible bit-for-bit on replay and in an audit, on any
//! CPU. Points, thresholds and ratios (basis points) are all `i64`, so there is no float rounding
//! anywhere between an event and its decision.

mod score;
#[cfg(test)]
mod tests;
mod validate;

pub use score::{Decision, ReasonCode, Scored};
pub use validate::ModelError;

use serde::{Deserialize, Serialize};

/// The YAML shipped as `models/fraud-v1.yaml`; must stay equal to [`ScoringModel::default_v1`].
pub const FRAUD_V1_YAML: &str = include_str!("../../models/fraud-v1.yaml");

/// A complete scoring model. Construct through [`ScoringModel::from_yaml`] or
/// [`ScoringModel::default_v1`] so that [`ScoringModel::validate`] has run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringModel {
    /// Stamped on every decision so an audit can tell which model produced it.
    pub version: String,
    pub thresholds: Thresholds,
    pub weights: Weights,
}

/// Score cut-offs: `score >= decline` declines, else `score >= review` sends to review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub review: i64,
    pub decline: i64,
}

/// Points per condition. A rule with `points: 0` is disabled (it neither scores nor reports a
/// reason), except `card_blocked`, which always declines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// `txn_count_60s >= min_count`.
    pub velocity_60s: CountRule,
    /// `amount_sum_1h_minor >= min_amount_minor`.
    pub amount_1h: AmountRule,
    /// `distinct_merchants_10m >= min_count`.
    pub distinct_merchants_10m: CountRule,
    /// The device was never seen on this card before.
    pub new_device: FlagRule,
    /// The device is known but its latest telemetry did not vouch for it (a brand-new device only
    /// scores `new_device`, so the same missing information is not counted twice).
    pub untrusted_device: FlagRule,
    /// `|ms_since_prev_txn| < max_gap_ms` (absolute: with out-of-order arrival the previously
    /// processed transaction may be later in event time; closeness is what matters).
    pub rapid_succession: GapRule,
    /// Authorization country differs from the known home country.
    pub country_mismatch: FlagRule,
    /// `amount_ratio_30d_bp >= min_ratio_bp` (10_000 bp = the 30-day average).
    pub amount_ratio_30d: RatioRule,
    /// Card is blocked: adds its points and always declines (hard decline).
    pub card_blocked: FlagRule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountRule {
    pub min_count: u64,
    pub points: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountRule {
    pub min_amount_minor: i64,
    pub points: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapRule {
    pub max_gap_ms: i64,
    pub points: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatioRule {
    pub min_ratio_bp: i64,
    pub points: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagRule {
    pub points: i64,
}

impl ScoringModel {
    /// Parse and validate a model. Errors name the offending field and how to fix it.
    pub fn from_yaml(text: &str) -> Result<Self, ModelError> {
        let model: ScoringModel = serde_norway::from_str(text).map_err(|e| ModelError::Yaml {
            message: e.to_string(),
        })?;
        model.validate()?;
        Ok(model)
    }

    /// The built-in model, identical to `models/fraud-v1.yaml`.
    pub fn default_v1() -> Self {
        Self {
            version: "fraud-v1".to_owned(),
            thresholds: Thresholds {
                review: 40,
                decline: 70,
            },
            weights: Weights {
                velocity_60s: CountRule {
                    min_count: 4,
                    points: 30,
                },
                amount_1h: AmountRule {
                    min_amount_minor: 500_000,
                    points: 20,
                },
                distinct_merchants_10m: CountRule {
                    min_count: 3,
                    points: 20,
                },
                new_device: FlagRule { points: 15 },
                untrusted_device: FlagRule { points: 10 },
                rapid_succession: GapRule {
                    max_gap_ms: 10_000,
                    points: 15,
                },
                country_mismatch: FlagRule { points: 25 },
                amount_ratio_30d: RatioRule {
                    min_ratio_bp: 50_000,
                    points: 25,
                },
                card_blocked: FlagRule { points: 100 },
            },
        }
    }
}
