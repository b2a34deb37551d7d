//! The scoring model file and scoring (docs/semantics.md §7).

use serde::Deserialize;

use crate::features::Features;

#[derive(Debug, Clone, Deserialize)]
pub struct Model {
    pub version: String,
    thresholds: Thresholds,
    weights: Weights,
}

#[derive(Debug, Clone, Deserialize)]
struct Thresholds {
    review: i64,
    decline: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct Weights {
    velocity_60s: Threshold<u64>,
    amount_1h: AmountRule,
    distinct_merchants_10m: Threshold<u64>,
    new_device: Points,
    untrusted_device: Points,
    rapid_succession: GapRule,
    country_mismatch: Points,
    amount_ratio_30d: RatioRule,
    card_blocked: Points,
}

#[derive(Debug, Clone, Deserialize)]
struct Threshold<T> {
    min_count: T,
    points: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct AmountRule {
    min_amount_minor: i64,
    points: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct GapRule {
    max_gap_ms: i64,
    points: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct RatioRule {
    min_ratio_bp: i64,
    points: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct Points {
    points: i64,
}

/// A score, its decision and the reason codes in rule order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub score: i64,
    pub decision: &'static str,
    pub reasons: Vec<&'static str>,
}

impl Verdict {
    /// REVIEW and DECLINE raise an alert.
    pub fn alerts(&self) -> bool {
        self.decision != "APPROVE"
    }
}

#[derive(Debug, thiserror::Error)]
#[error("scoring model: {0}")]
pub struct ModelError(#[from] serde_norway::Error);

impl Model {
    pub fn from_yaml(text: &str) -> Result<Model, ModelError> {
        Ok(serde_norway::from_str(text)?)
    }

    pub fn score(&self, f: &Features) -> Verdict {
        let w = &self.weights;
        let gap_holds =
            |gap: i64| gap.unsigned_abs() < w.rapid_succession.max_gap_ms.unsigned_abs();
        let rules: [(&'static str, bool, i64); 8] = [
            (
                "VELOCITY_60S",
                f.txn_count_60s >= w.velocity_60s.min_count,
                w.velocity_60s.points,
            ),
            (
                "AMOUNT_1H",
                f.amount_sum_1h_minor >= w.amount_1h.min_amount_minor,
                w.amount_1h.points,
            ),
            (
                "DISTINCT_MERCHANTS_10M",
                f.distinct_merchants_10m >= w.distinct_merchants_10m.min_count,
                w.distinct_merchants_10m.points,
            ),
            ("NEW_DEVICE", !f.device_seen_before, w.new_device.points),
            (
                "UNTRUSTED_DEVICE",
                f.device_seen_before && !f.device_trusted,
                w.untrusted_device.points,
            ),
            (
                "RAPID_SUCCESSION",
                f.ms_since_prev_txn.is_some_and(gap_holds),
                w.rapid_succession.points,
            ),
            (
                "COUNTRY_MISMATCH",
                f.country_mismatch,
                w.country_mismatch.points,
            ),
            (
                "AMOUNT_RATIO_30D",
                f.amount_ratio_30d_bp
                    .is_some_and(|bp| bp >= w.amount_ratio_30d.min_ratio_bp),
                w.amount_ratio_30d.points,
            ),
        ];
        let mut verdict = Verdict {
            score: 0,
            decision: "APPROVE",
            reasons: Vec::new(),
        };
        for (code, holds, points) in rules {
            if holds && points > 0 {
                verdict.score = verdict.score.saturating_add(points);
                verdict.reasons.push(code);
            }
        }
        if f.card_blocked {
            verdict.score = verdict.score.saturating_add(w.card_blocked.points.max(0));
            verdict.reasons.push("CARD_BLOCKED");
        }
        verdict.decision = if f.card_blocked || verdict.score >= self.thresholds.decline {
            "DECLINE"
        } else if verdict.score >= self.thresholds.review {
            "REVIEW"
        } else {
            "APPROVE"
        };
        verdict
    }
}
