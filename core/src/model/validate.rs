//! Model validation: reject a model that would score nonsensically before it ever sees traffic.
//!
//! Each error names the YAML path and the fix, because the person reading it is editing a model
//! file under time pressure, not reading this code.

use thiserror::Error;

use super::{ScoringModel, Thresholds, Weights};

/// Largest points value for any rule. Keeps the sum of all rules far from `i64` overflow.
pub const MAX_POINTS: i64 = 1_000_000;
/// Largest accepted threshold (above the sum of all rules at [`MAX_POINTS`]).
pub const MAX_THRESHOLD: i64 = 1_000_000_000;
const MAX_VERSION_BYTES: usize = 64;

/// Why a model was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    /// The YAML did not parse into the model shape (serde_norway's message includes the field path).
    #[error(
        "model YAML is malformed: {message} (fix: compare with models/fraud-v1.yaml; unknown fields are rejected)"
    )]
    Yaml { message: String },
    /// The shape is right but a value is not.
    #[error("model field {field}: {problem} (fix: {fix})")]
    Invalid {
        field: &'static str,
        problem: String,
        fix: &'static str,
    },
}

impl ModelError {
    /// Bounded label for metrics and status conditions.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Yaml { .. } => "yaml",
            Self::Invalid { .. } => "invalid",
        }
    }
}

fn invalid(field: &'static str, problem: String, fix: &'static str) -> ModelError {
    ModelError::Invalid {
        field,
        problem,
        fix,
    }
}

fn points(field: &'static str, value: i64) -> Result<(), ModelError> {
    if (0..=MAX_POINTS).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be between 0 and {MAX_POINTS}, got {value}"),
            "use a non-negative integer; 0 disables the rule",
        ))
    }
}

fn min_count(field: &'static str, value: u64, fix: &'static str) -> Result<(), ModelError> {
    if value == 0 {
        Err(invalid(field, "must be >= 1, got 0".into(), fix))
    } else {
        Ok(())
    }
}

fn positive(field: &'static str, value: i64, fix: &'static str) -> Result<(), ModelError> {
    if value > 0 {
        Ok(())
    } else {
        Err(invalid(field, format!("must be > 0, got {value}"), fix))
    }
}

impl ScoringModel {
    /// Check every rule; the first problem found (in file order) is reported.
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_version(&self.version)?;
        validate_thresholds(self.thresholds)?;
        validate_weights(&self.weights)
    }
}

fn validate_version(v: &str) -> Result<(), ModelError> {
    if v.is_empty()
        || v.len() > MAX_VERSION_BYTES
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(invalid(
            "version",
            format!("must be 1..={MAX_VERSION_BYTES} characters of [A-Za-z0-9._-], got {v:?}"),
            "use a short identifier such as fraud-v2",
        ));
    }
    Ok(())
}

fn validate_thresholds(t: Thresholds) -> Result<(), ModelError> {
    if !(0..=MAX_THRESHOLD).contains(&t.review) {
        return Err(invalid(
            "thresholds.review",
            format!("must be between 0 and {MAX_THRESHOLD}, got {}", t.review),
            "use a non-negative integer below thresholds.decline",
        ));
    }
    if !(0..=MAX_THRESHOLD).contains(&t.decline) {
        return Err(invalid(
            "thresholds.decline",
            format!("must be between 0 and {MAX_THRESHOLD}, got {}", t.decline),
            "use a non-negative integer above thresholds.review",
        ));
    }
    if t.review >= t.decline {
        return Err(invalid(
            "thresholds.review",
            format!(
                "must be < thresholds.decline, got review={} decline={}",
                t.review, t.decline
            ),
            "lower thresholds.review or raise thresholds.decline",
        ));
    }
    Ok(())
}

/// The rules in file order: count rules need at least 1, thresholds of amounts, gaps and ratios
/// must be positive, and every rule's points are bounded by [`MAX_POINTS`].
fn validate_weights(w: &Weights) -> Result<(), ModelError> {
    min_count(
        "weights.velocity_60s.min_count",
        w.velocity_60s.min_count,
        "the count includes the current transaction; use 1 or more",
    )?;
    points("weights.velocity_60s.points", w.velocity_60s.points)?;
    positive(
        "weights.amount_1h.min_amount_minor",
        w.amount_1h.min_amount_minor,
        "give the amount in minor units, e.g. 500000 for 5000.00",
    )?;
    points("weights.amount_1h.points", w.amount_1h.points)?;
    min_count(
        "weights.distinct_merchants_10m.min_count",
        w.distinct_merchants_10m.min_count,
        "the count includes the current merchant; use 1 or more",
    )?;
    points(
        "weights.distinct_merchants_10m.points",
        w.distinct_merchants_10m.points,
    )?;
    points("weights.new_device.points", w.new_device.points)?;
    points("weights.untrusted_device.points", w.untrusted_device.points)?;
    positive(
        "weights.rapid_succession.max_gap_ms",
        w.rapid_succession.max_gap_ms,
        "give the gap in milliseconds, e.g. 10000",
    )?;
    points("weights.rapid_succession.points", w.rapid_succession.points)?;
    points("weights.country_mismatch.points", w.country_mismatch.points)?;
    positive(
        "weights.amount_ratio_30d.min_ratio_bp",
        w.amount_ratio_30d.min_ratio_bp,
        "give the ratio in basis points, e.g. 50000 for 5x the 30-day average",
    )?;
    points("weights.amount_ratio_30d.points", w.amount_ratio_30d.points)?;
    points("weights.card_blocked.points", w.card_blocked.points)?;
    Ok(())
}
