//! Everything Sluice remembers about one card, and how each event changes it.
//!
//! The state is exactly what the features need and no more: raw auth entries for the short windows
//! (so edges are exact, no bucket approximation), per-day buckets for the 30-day average, the device
//! map, the latest account profile, and the max event time for TTL. Pruning and TTL are defined in
//! event time against the watermark, never wall-clock, so a replay reproduces them exactly.

mod codec;
#[cfg(test)]
mod tests;

pub use codec::{CARD_STATE_VERSION, peek_last_event_time_ms};

use std::collections::BTreeMap;

use crate::event::{AccountChange, AccountStatus, Authorization, DeviceTelemetry, InputEvent};

/// Milliseconds per day bucket (UTC days since the epoch).
pub const DAY_MS: i64 = 86_400_000;
/// Daily buckets older than this many days before the prune horizon are dropped. Features look
/// back 30 full days; one extra day of slack keeps pruning strictly outside any readable range.
pub const BUCKET_RETENTION_DAYS: i64 = 31;

/// One processed authorization, as needed by the 60 s / 10 min / 1 h windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEntry {
    pub event_time_ms: i64,
    pub amount_minor: i64,
    pub merchant_id: String,
}

/// What we know about one device on this card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEntry {
    /// Max event time of any auth or telemetry mentioning the device.
    pub last_seen_ms: i64,
    /// Latest telemetry verdict (by event time), if any telemetry arrived.
    pub trust: Option<TrustSignal>,
}

/// A telemetry trust verdict and the event time it was made at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustSignal {
    pub trusted: bool,
    pub as_of_ms: i64,
}

/// Latest account profile (by event time) from account-changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub status: AccountStatus,
    pub home_country: String,
    pub credit_limit_minor: i64,
    pub as_of_ms: i64,
}

/// Sum and count of authorization amounts in one UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayBucket {
    /// u128: even absurd volumes of max-size amounts cannot overflow.
    pub sum_minor: u128,
    pub count: u64,
}

/// Per-card state. Deterministic containers only (Vec in processing order, BTreeMap), so the
/// encoding of a state is a pure function of the events that produced it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardState {
    /// Max event time over every event applied to this card; drives TTL.
    pub last_event_time_ms: i64,
    /// Event time of the most recently *processed* authorization (not the max).
    pub prev_txn_time_ms: Option<i64>,
    pub account: Option<AccountInfo>,
    /// Authorizations in processing order, pruned by [`CardState::prune`].
    pub auths: Vec<AuthEntry>,
    pub devices: BTreeMap<String, DeviceEntry>,
    /// Day index (`event_time_ms.div_euclid(DAY_MS)`) → bucket.
    pub daily: BTreeMap<i64, DayBucket>,
}

/// The day index of an event time.
pub fn day_of(event_time_ms: i64) -> i64 {
    event_time_ms.div_euclid(DAY_MS)
}

/// TTL rule, shared by the processor and the worker's sweep so both agree exactly: a card whose
/// newest event is older than `watermark - ttl` is treated as absent.
pub fn is_expired(last_event_time_ms: i64, watermark_ms: Option<i64>, state_ttl_ms: i64) -> bool {
    watermark_ms.is_some_and(|w| last_event_time_ms < w.saturating_sub(state_ttl_ms))
}

impl CardState {
    /// Apply any event. Authorizations must be scored against the state *before* this call.
    pub fn apply(&mut self, event: &InputEvent) {
        match event {
            InputEvent::Authorization(a) => self.apply_authorization(a),
            InputEvent::DeviceTelemetry(d) => self.apply_telemetry(d),
            InputEvent::AccountChange(c) => self.apply_account_change(c),
        }
    }

    fn touch(&mut self, event_time_ms: i64) {
        self.last_event_time_ms = self.last_event_time_ms.max(event_time_ms);
    }

    fn apply_authorization(&mut self, a: &Authorization) {
        let t = a.event_time_ms;
        self.touch(t);
        self.prev_txn_time_ms = Some(t);
        self.auths.push(AuthEntry {
            event_time_ms: t,
            amount_minor: a.amount_minor,
            merchant_id: a.merchant_id.clone(),
        });
        self.see_device(&a.device_id, t);
        let bucket = self.daily.entry(day_of(t)).or_default();
        bucket.sum_minor = bucket
            .sum_minor
            .saturating_add(u128::from(a.amount_minor.unsigned_abs()));
        bucket.count = bucket.count.saturating_add(1);
    }

    fn apply_telemetry(&mut self, d: &DeviceTelemetry) {
        let t = d.event_time_ms;
        self.touch(t);
        let entry = self.see_device(&d.device_id, t);
        // Latest by event time; on a tie the later-processed verdict wins.
        if entry.trust.is_none_or(|s| t >= s.as_of_ms) {
            entry.trust = Some(TrustSignal {
                trusted: d.trusted,
                as_of_ms: t,
            });
        }
    }

    fn apply_account_change(&mut self, c: &AccountChange) {
        let t = c.event_time_ms;
        self.touch(t);
        // Latest by event time, so a delayed stale "active" cannot unblock a card blocked later.
        if self.account.as_ref().is_none_or(|a| t >= a.as_of_ms) {
            self.account = Some(AccountInfo {
                status: c.status,
                home_country: c.home_country.clone(),
                credit_limit_minor: c.credit_limit_minor,
                as_of_ms: t,
            });
        }
    }

    fn see_device(&mut self, device_id: &str, t: i64) -> &mut DeviceEntry {
        let entry = self
            .devices
            .entry(device_id.to_owned())
            .or_insert(DeviceEntry {
                last_seen_ms: t,
                trust: None,
            });
        entry.last_seen_ms = entry.last_seen_ms.max(t);
        entry
    }

    /// Drop what no admissible future event can read.
    ///
    /// The processor passes `horizon = watermark - allowed_lateness - 3_600_000`: every future
    /// event has `t >= watermark - allowed_lateness`, the widest auth window is 1 h, and the
    /// 30-day average reads days `>= day(t) - 30`, so nothing dropped here changes a feature.
    pub fn prune(&mut self, horizon_ms: i64) {
        self.auths.retain(|e| e.event_time_ms >= horizon_ms);
        let first_kept_day = day_of(horizon_ms).saturating_sub(BUCKET_RETENTION_DAYS);
        self.daily = self.daily.split_off(&first_kept_day);
    }

    /// True when TTL says this state must be treated as absent (see [`is_expired`]).
    pub fn is_expired(&self, watermark_ms: Option<i64>, state_ttl_ms: i64) -> bool {
        is_expired(self.last_event_time_ms, watermark_ms, state_ttl_ms)
    }
}
