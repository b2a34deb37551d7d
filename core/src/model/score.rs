//! Turning a feature vector into a score, a decision and reason codes.
//!
//! Reasons are reported in one fixed rule order so that equal inputs always serialize to equal
//! bytes, and the codes are stable strings that downstream case-management tools key on.

use serde::{Deserialize, Serialize};

use super::ScoringModel;
use crate::features::FeatureVector;

/// Outcome of scoring one authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Decision {
    #[serde(rename = "APPROVE")]
    Approve,
    #[serde(rename = "REVIEW")]
    Review,
    #[serde(rename = "DECLINE")]
    Decline,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "APPROVE",
            Self::Review => "REVIEW",
            Self::Decline => "DECLINE",
        }
    }

    /// Review and decline decisions also go to the alerts topic.
    pub fn is_alert(self) -> bool {
        self != Self::Approve
    }
}

/// Why points were added. The string form is a public contract; never rename a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ReasonCode {
    #[serde(rename = "VELOCITY_60S")]
    Velocity60s,
    #[serde(rename = "AMOUNT_1H")]
    Amount1h,
    #[serde(rename = "DISTINCT_MERCHANTS_10M")]
    DistinctMerchants10m,
    #[serde(rename = "NEW_DEVICE")]
    NewDevice,
    #[serde(rename = "UNTRUSTED_DEVICE")]
    UntrustedDevice,
    #[serde(rename = "RAPID_SUCCESSION")]
    RapidSuccession,
    #[serde(rename = "COUNTRY_MISMATCH")]
    CountryMismatch,
    #[serde(rename = "AMOUNT_RATIO_30D")]
    AmountRatio30d,
    #[serde(rename = "CARD_BLOCKED")]
    CardBlocked,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Velocity60s => "VELOCITY_60S",
            Self::Amount1h => "AMOUNT_1H",
            Self::DistinctMerchants10m => "DISTINCT_MERCHANTS_10M",
            Self::NewDevice => "NEW_DEVICE",
            Self::UntrustedDevice => "UNTRUSTED_DEVICE",
            Self::RapidSuccession => "RAPID_SUCCESSION",
            Self::CountryMismatch => "COUNTRY_MISMATCH",
            Self::AmountRatio30d => "AMOUNT_RATIO_30D",
            Self::CardBlocked => "CARD_BLOCKED",
        }
    }
}

/// Score, decision and the reasons that contributed, in rule order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scored {
    pub score: i64,
    pub decision: Decision,
    pub reasons: Vec<ReasonCode>,
}

impl ScoringModel {
    /// Score one authorization's features. Pure and total: saturating arithmetic means even an
    /// unvalidated model cannot panic here.
    pub fn score(&self, f: &FeatureVector) -> Scored {
        let w = &self.weights;
        let rules = [
            (
                ReasonCode::Velocity60s,
                f.txn_count_60s >= w.velocity_60s.min_count,
                w.velocity_60s.points,
            ),
            (
                ReasonCode::Amount1h,
                f.amount_sum_1h_minor >= w.amount_1h.min_amount_minor,
                w.amount_1h.points,
            ),
            (
                ReasonCode::DistinctMerchants10m,
                f.distinct_merchants_10m >= w.distinct_merchants_10m.min_count,
                w.distinct_merchants_10m.points,
            ),
            (
                ReasonCode::NewDevice,
                !f.device_seen_before,
                w.new_device.points,
            ),
            (
                ReasonCode::UntrustedDevice,
                f.device_seen_before && !f.device_trusted,
                w.untrusted_device.points,
            ),
            (
                ReasonCode::RapidSuccession,
                f.ms_since_prev_txn.is_some_and(|gap| {
                    gap.unsigned_abs() < w.rapid_succession.max_gap_ms.unsigned_abs()
                }),
                w.rapid_succession.points,
            ),
            (
                ReasonCode::CountryMismatch,
                f.country_mismatch,
                w.country_mismatch.points,
            ),
            (
                ReasonCode::AmountRatio30d,
                f.amount_ratio_30d_bp
                    .is_some_and(|bp| bp >= w.amount_ratio_30d.min_ratio_bp),
                w.amount_ratio_30d.points,
            ),
        ];
        let mut score: i64 = 0;
        let mut reasons = Vec::new();
        for (code, triggered, points) in rules {
            if triggered && points > 0 {
                score = score.saturating_add(points);
                reasons.push(code);
            }
        }
        if f.card_blocked {
            score = score.saturating_add(w.card_blocked.points.max(0));
            reasons.push(ReasonCode::CardBlocked);
        }
        let decision = if f.card_blocked || score >= self.thresholds.decline {
            Decision::Decline
        } else if score >= self.thresholds.review {
            Decision::Review
        } else {
            Decision::Approve
        };
        Scored {
            score,
            decision,
            reasons,
        }
    }
}
