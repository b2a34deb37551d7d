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

    let trust = latest_trust(history, &a.device_id);
    let account = latest_account(history);
    let average = average_30d(&auths, t);

    Features {
        txn_count_60s: u64::try_from(count).unwrap_or(u64::MAX).saturating_add(1),
        amount_sum_1h_minor: saturate(sum + i128::from(a.amount_minor)),
        distinct_merchants_10m: u64::try_from(merchants.len()).unwrap_or(u64::MAX),
        device_seen_before: device_seen_before(history, &a.device_id),
        device_trusted: trust.is_some_and(|trusted| trusted),
        ms_since_prev_txn: auths.last().map(|p| t.saturating_sub(p.event_time_ms)),
        country_mismatch: account.is_some_and(|(_, home)| home != a.country),
        amount_ratio_30d_bp: average.map(|avg| saturate(i128::from(a.amount_minor) * 10_000 / avg)),
        card_blocked: account.is_some_and(|(blocked, _)| blocked),
    }
}

/// The device appeared in an earlier authorization or telemetry event of the card.
fn device_seen_before(history: &[Event], device: &str) -> bool {
    history.iter().any(|e| match e {
        Event::Auth(h) => h.device_id == device,
        Event::Telemetry { device_id, .. } => *device_id == device,
        Event::Account { .. } => false,
    })
}

/// The latest telemetry verdict for `device`: trusted or not, `None` without telemetry.
fn latest_trust(history: &[Event], device: &str) -> Option<bool> {
    // The latest by event time; on equal times the one processed last (hence `>=`).
    let mut trust: Option<(i64, bool)> = None;
    for e in history {
        if let Event::Telemetry {
            device_id,
            trusted,
            event_time_ms,
            ..
        } = e
            && *device_id == device
            && trust.is_none_or(|(at, _)| *event_time_ms >= at)
        {
            trust = Some((*event_time_ms, *trusted));
        }
    }
    trust.map(|(_, trusted)| trusted)
}

/// The latest account change: blocked or not, and the home country; `None` without one.
fn latest_account(history: &[Event]) -> Option<(bool, &str)> {
    // The latest by event time; on equal times the one processed last (hence `>=`).
    let mut account: Option<(i64, bool, &str)> = None;
    for e in history {
        if let Event::Account {
            blocked,
            home_country,
            event_time_ms,
            ..
        } = e
            && account.is_none_or(|(at, _, _)| *event_time_ms >= at)
        {
            account = Some((*event_time_ms, *blocked, home_country));
        }
    }
    account.map(|(_, blocked, home)| (blocked, home))
}

/// The integer average amount of the authorizations in the 30 whole days before `t`'s day;
/// `None` without any, or when it is not positive.
fn average_30d(auths: &[&Auth], t: i64) -> Option<i128> {
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
    baseline
        .iter()
        .sum::<i128>()
        .checked_div(n)
        .filter(|avg| *avg > 0)
}
