//! The features of an authorization (docs/semantics.md §6), by scanning the card's whole history.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::input::{Auth, Event};

const DAY_MS: i64 = 86_400_000;

/// The §6 features, in the contract's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    pub txn_count_60s: u64,
    pub amount_sum_1h_minor: i64,
    pub distinct_merchants_10m: u64,
    pub device_seen_before: bool,
    pub device_trusted: bool,
    pub ms_since_prev_txn: Option<i64>,
    pub country_mismatch: bool,
    pub amount_ratio_30d_bp: Option<i64>,
    pub card_blocked: bool,
}

impl Features {
    pub fn to_json(&self) -> Value {
        json!({
            "txn_count_60s": self.txn_count_60s,
            "amount_sum_1h_minor": self.amount_sum_1h_minor,
            "distinct_merchants_10m": self.distinct_merchants_10m,
            "device_seen_before": self.device_seen_before,
            "device_trusted": self.device_trusted,
            "ms_since_prev_txn": self.ms_since_prev_txn,
            "country_mismatch": self.country_mismatch,
            "amount_ratio_30d_bp": self.amount_ratio_30d_bp,
            "card_blocked": self.card_blocked,
        })
    }
}

/// `t − width < time ≤ t`.
fn within(time: i64, t: i64, width: i64) -> bool {
    time <= t && i128::from(t) - i128::from(time) < i128::from(width)
}

fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// Features of `a` over `history`: the card's on-time events processed before it, in processing order.
pub fn features(history: &[Event], a: &Auth) -> Features {
    let t = a.event_time_ms;
    let auths: Vec<&Auth> = history
        .iter()
        .filter_map(|e| match e {
            Event::Auth(h) => Some(h),
            _ => None,
        })
        .collect();
    let in_window = |width: i64| {
        auths
            .iter()
            .filter(move |h| within(h.event_time_ms, t, width))
    };

    let count = in_window(60_000).count();
    let sum: i128 = in_window(3_600_000)
        .map(|h| i128::from(h.amount_minor))
        .sum();
    let mut merchants: BTreeSet<&str> =
        in_window(600_000).map(|h| h.merchant_id.as_str()).collect();
    merchants.insert(&a.merchant_id);

    let device_seen_before = history.iter().any(|e| match e {
        Event::Auth(h) => h.device_id == a.device_id,
        Event::Telemetry { device_id, .. } => *device_id == a.device_id,
        Event::Account { .. } => false,
    });
    // The latest by event time; on equal times the one processed last (hence `>=`).
    let mut trust: Option<(i64, bool)> = None;
    let mut account: Option<(i64, bool, &str)> = None;
    for e in history {
        match e {
            Event::Telemetry {
                device_id,
                trusted,
                event_time_ms,
                ..
            } if *device_id == a.device_id && trust.is_none_or(|(at, _)| *event_time_ms >= at) => {
                trust = Some((*event_time_ms, *trusted));
            }
            Event::Account {
                blocked,
                home_country,
                event_time_ms,
                ..
            } if account.is_none_or(|(at, _, _)| *event_time_ms >= at) => {
                account = Some((*event_time_ms, *blocked, home_country));
            }
            _ => {}
        }
    }

    let today = t.div_euclid(DAY_MS);
    let baseline: Vec<i128> = auths
        .iter()
        .filter(|h| {
            let day = h.event_time_ms.div_euclid(DAY_MS);
            day >= today - 30 && day < today
        })
        .map(|h| i128::from(h.amount_minor))
        .collect();
    let n = i128::try_from(baseline.len()).unwrap_or(i128::MAX);
    let average = baseline
        .iter()
        .sum::<i128>()
        .checked_div(n)
        .filter(|avg| *avg > 0);

    Features {
        txn_count_60s: u64::try_from(count).unwrap_or(u64::MAX).saturating_add(1),
        amount_sum_1h_minor: saturate(sum + i128::from(a.amount_minor)),
        distinct_merchants_10m: u64::try_from(merchants.len()).unwrap_or(u64::MAX),
        device_seen_before,
        device_trusted: trust.is_some_and(|(_, trusted)| trusted),
        ms_since_prev_txn: auths.last().map(|p| t.saturating_sub(p.event_time_ms)),
        country_mismatch: account.is_some_and(|(_, _, home)| home != a.country),
        amount_ratio_30d_bp: average.map(|avg| saturate(i128::from(a.amount_minor) * 10_000 / avg)),
        card_blocked: account.is_some_and(|(_, blocked, _)| blocked),
    }
}
