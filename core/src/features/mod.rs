//! Fraud features of one authorization, computed in event time from the card state.
//!
//! Definitions (t = the authorization's event time; "state" = every earlier-processed event of the
//! card, whatever its event time, plus this authorization):
//! - windows are half-open `(t - W, t]`, so an auth exactly W ms older than t is *outside*;
//!   auths processed earlier but later in event time than t are outside too;
//! - the 30-day average reads whole UTC days `[day(t) - 30, day(t) - 1]` (today excluded, so a
//!   burst today cannot dilute its own baseline).

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::card_state::{CardState, day_of};
use crate::event::{AccountStatus, Authorization};

/// Velocity window.
pub const WINDOW_60S_MS: i64 = 60_000;
/// Distinct-merchant window.
pub const WINDOW_10M_MS: i64 = 600_000;
/// Amount-sum window; also the widest window, which bounds pruning.
pub const WINDOW_1H_MS: i64 = 3_600_000;
/// Days of history behind the amount ratio.
pub const RATIO_LOOKBACK_DAYS: i64 = 30;

/// Features of one authorization. Field order is the JSON order in decision records: append new
/// fields at the end, never reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureVector {
    /// Auths in `(t - 60 s, t]`, including this one.
    pub txn_count_60s: u64,
    /// Sum of amounts in `(t - 1 h, t]`, including this one (saturates at i64::MAX).
    pub amount_sum_1h_minor: i64,
    /// Distinct merchants in `(t - 10 min, t]`, including this one.
    pub distinct_merchants_10m: u64,
    /// The device appeared in an earlier auth or telemetry of this card.
    pub device_seen_before: bool,
    /// Latest telemetry verdict for the device; false without telemetry.
    pub device_trusted: bool,
    /// `t - (event time of the previously processed auth)`; negative when that auth is later in
    /// event time; None for the card's first auth.
    pub ms_since_prev_txn: Option<i64>,
    /// Home country is known and differs from the auth country.
    pub country_mismatch: bool,
    /// `amount * 10_000 / avg` with the integer 30-day average; None without history.
    pub amount_ratio_30d_bp: Option<i64>,
    /// Latest account status is blocked.
    pub card_blocked: bool,
}

fn in_window(event_time_ms: i64, t: i64, width_ms: i64) -> bool {
    event_time_ms <= t && event_time_ms > t.saturating_sub(width_ms)
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// Compute features for `auth` against `state` as it was *before* `auth` is applied.
pub fn compute(state: &CardState, auth: &Authorization) -> FeatureVector {
    let t = auth.event_time_ms;

    let prior_60s = state
        .auths
        .iter()
        .filter(|e| in_window(e.event_time_ms, t, WINDOW_60S_MS))
        .count();

    let sum_1h: i128 = state
        .auths
        .iter()
        .filter(|e| in_window(e.event_time_ms, t, WINDOW_1H_MS))
        .map(|e| i128::from(e.amount_minor))
        .sum::<i128>()
        + i128::from(auth.amount_minor);

    let mut merchants: BTreeSet<&str> = state
        .auths
        .iter()
        .filter(|e| in_window(e.event_time_ms, t, WINDOW_10M_MS))
        .map(|e| e.merchant_id.as_str())
        .collect();
    merchants.insert(&auth.merchant_id);

    let device = state.devices.get(&auth.device_id);

    let today = day_of(t);
    let (sum, count) = state
        .daily
        .range(today.saturating_sub(RATIO_LOOKBACK_DAYS)..today)
        .fold((0u128, 0u128), |(s, c), (_, b)| {
            (
                s.saturating_add(b.sum_minor),
                c.saturating_add(u128::from(b.count)),
            )
        });
    let amount_ratio_30d_bp = sum.checked_div(count).filter(|avg| *avg > 0).map(|avg| {
        let scaled = u128::from(auth.amount_minor.unsigned_abs()).saturating_mul(10_000);
        clamp_i64(i128::try_from(scaled / avg).unwrap_or(i128::MAX))
    });

    FeatureVector {
        txn_count_60s: u64::try_from(prior_60s)
            .unwrap_or(u64::MAX)
            .saturating_add(1),
        amount_sum_1h_minor: clamp_i64(sum_1h),
        distinct_merchants_10m: u64::try_from(merchants.len()).unwrap_or(u64::MAX),
        device_seen_before: device.is_some(),
        device_trusted: device.and_then(|d| d.trust).is_some_and(|s| s.trusted),
        ms_since_prev_txn: state.prev_txn_time_ms.map(|p| t.saturating_sub(p)),
        country_mismatch: state
            .account
            .as_ref()
            .is_some_and(|a| a.home_country != auth.country),
        amount_ratio_30d_bp,
        card_blocked: state
            .account
            .as_ref()
            .is_some_and(|a| a.status == AccountStatus::Blocked),
    }
}
