//! Versioned binary encoding of [`CardState`].
//!
//! Byte 0 is the schema version. Version 1 layout (ivar = zigzag LEB128, uvar = LEB128,
//! str = uvar length + UTF-8 bytes, opt = tag byte 0/1 then value):
//!
//! ```text
//! u8   version = 1
//! ivar last_event_time_ms
//! opt  ivar prev_txn_time_ms
//! opt  account: u8 status (0 active, 1 blocked), str home_country, ivar credit_limit_minor, ivar as_of_ms
//! uvar n_auths,   n × (ivar event_time_ms, ivar amount_minor, str merchant_id)
//! uvar n_devices, n × (str device_id (strictly ascending), ivar last_seen_ms,
//!                      u8 trust (0 none, 1 untrusted, 2 trusted) [then ivar as_of_ms if != 0])
//! uvar n_days,    n × (ivar day (strictly ascending), uvar sum_minor, uvar count)
//! ```
//!
//! Evolving the format: add `decode_v2` next to `decode_v1`, make `encode` write v2, and keep
//! `decode_v1` (plus its fixture test) forever so state written by older workers still loads.

use std::collections::BTreeMap;

use super::{AccountInfo, AuthEntry, CardState, DayBucket, DeviceEntry, TrustSignal};
use crate::codec::{Reader, StateDecodeError, Writer};
use crate::event::AccountStatus;

/// Schema version written by [`CardState::encode`].
pub const CARD_STATE_VERSION: u8 = 1;

impl CardState {
    /// Encode as the current schema version.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_version(CARD_STATE_VERSION);
        w.ivar(self.last_event_time_ms);
        w.opt_ivar(self.prev_txn_time_ms);
        match &self.account {
            None => w.u8(0),
            Some(a) => {
                w.u8(1);
                w.u8(match a.status {
                    AccountStatus::Active => 0,
                    AccountStatus::Blocked => 1,
                });
                w.str(&a.home_country);
                w.ivar(a.credit_limit_minor);
                w.ivar(a.as_of_ms);
            }
        }
        w.len(self.auths.len());
        for e in &self.auths {
            w.ivar(e.event_time_ms);
            w.ivar(e.amount_minor);
            w.str(&e.merchant_id);
        }
        w.len(self.devices.len());
        for (id, d) in &self.devices {
            w.str(id);
            w.ivar(d.last_seen_ms);
            match d.trust {
                None => w.u8(0),
                Some(s) => {
                    w.u8(if s.trusted { 2 } else { 1 });
                    w.ivar(s.as_of_ms);
                }
            }
        }
        w.len(self.daily.len());
        for (day, b) in &self.daily {
            w.ivar(*day);
            w.uvar(b.sum_minor);
            w.uvar(u128::from(b.count));
        }
        w.into_bytes()
    }

    /// Decode any supported schema version. Never panics on arbitrary bytes.
    pub fn decode(bytes: &[u8]) -> Result<CardState, StateDecodeError> {
        let (&version, body) = bytes.split_first().ok_or(StateDecodeError::Empty)?;
        match version {
            1 => decode_v1(body),
            found => Err(StateDecodeError::UnsupportedVersion {
                what: "card state",
                found,
                supported: "1",
            }),
        }
    }
}

/// Read only the TTL field, so a sweep (or a RocksDB compaction filter) can expire cards without
/// decoding the whole state. Works for every version, which all start with this field.
pub fn peek_last_event_time_ms(bytes: &[u8]) -> Result<i64, StateDecodeError> {
    let (&version, body) = bytes.split_first().ok_or(StateDecodeError::Empty)?;
    if version != 1 {
        return Err(StateDecodeError::UnsupportedVersion {
            what: "card state",
            found: version,
            supported: "1",
        });
    }
    Reader::new(body).ivar("last_event_time_ms")
}

fn decode_v1(body: &[u8]) -> Result<CardState, StateDecodeError> {
    let mut r = Reader::new(body);
    let last_event_time_ms = r.ivar("last_event_time_ms")?;
    let prev_txn_time_ms = r.opt_ivar("prev_txn_time_ms")?;
    let account = decode_v1_account(&mut r)?;
    let auths = decode_v1_auths(&mut r)?;
    let devices = decode_v1_devices(&mut r)?;
    let daily = decode_v1_daily(&mut r)?;
    r.finish()?;
    Ok(CardState {
        last_event_time_ms,
        prev_txn_time_ms,
        account,
        auths,
        devices,
        daily,
    })
}

/// `opt account`: tag byte, then status, home country, credit limit and as-of time.
fn decode_v1_account(r: &mut Reader<'_>) -> Result<Option<AccountInfo>, StateDecodeError> {
    match r.u8("account tag")? {
        0 => Ok(None),
        1 => {
            let status = match r.u8("account status")? {
                0 => AccountStatus::Active,
                1 => AccountStatus::Blocked,
                tag => {
                    return Err(StateDecodeError::InvalidTag {
                        what: "account status",
                        tag,
                    });
                }
            };
            Ok(Some(AccountInfo {
                status,
                home_country: r.string("home_country")?,
                credit_limit_minor: r.ivar("credit_limit_minor")?,
                as_of_ms: r.ivar("account as_of_ms")?,
            }))
        }
        tag => Err(StateDecodeError::InvalidTag {
            what: "account tag",
            tag,
        }),
    }
}

/// `uvar n_auths`, then each authorization's event time, amount and merchant.
fn decode_v1_auths(r: &mut Reader<'_>) -> Result<Vec<AuthEntry>, StateDecodeError> {
    let n = r.len("auth entries", 3)?;
    let mut auths = Vec::with_capacity(n);
    for _ in 0..n {
        auths.push(AuthEntry {
            event_time_ms: r.ivar("auth event_time_ms")?,
            amount_minor: r.ivar("auth amount_minor")?,
            merchant_id: r.string("auth merchant_id")?,
        });
    }
    Ok(auths)
}

/// `uvar n_devices`, then each device (ids strictly ascending) with its last-seen time and trust.
fn decode_v1_devices(
    r: &mut Reader<'_>,
) -> Result<BTreeMap<String, DeviceEntry>, StateDecodeError> {
    let n = r.len("devices", 3)?;
    let mut devices = BTreeMap::new();
    let mut prev_id: Option<String> = None;
    for _ in 0..n {
        let id = r.string("device_id")?;
        if prev_id.as_ref().is_some_and(|p| *p >= id) {
            return Err(StateDecodeError::NotSorted { what: "devices" });
        }
        let last_seen_ms = r.ivar("device last_seen_ms")?;
        let trust = match r.u8("device trust")? {
            0 => None,
            tag @ (1 | 2) => Some(TrustSignal {
                trusted: tag == 2,
                as_of_ms: r.ivar("device trust as_of_ms")?,
            }),
            tag => {
                return Err(StateDecodeError::InvalidTag {
                    what: "device trust",
                    tag,
                });
            }
        };
        prev_id = Some(id.clone());
        devices.insert(
            id,
            DeviceEntry {
                last_seen_ms,
                trust,
            },
        );
    }
    Ok(devices)
}

/// `uvar n_days`, then each day bucket (days strictly ascending) with its sum and count.
fn decode_v1_daily(r: &mut Reader<'_>) -> Result<BTreeMap<i64, DayBucket>, StateDecodeError> {
    let n = r.len("daily buckets", 3)?;
    let mut daily = BTreeMap::new();
    let mut prev_day: Option<i64> = None;
    for _ in 0..n {
        let day = r.ivar("bucket day")?;
        if prev_day.is_some_and(|p| p >= day) {
            return Err(StateDecodeError::NotSorted {
                what: "daily buckets",
            });
        }
        prev_day = Some(day);
        let sum_minor = r.uvar("bucket sum_minor")?;
        let count = r.u64("bucket count")?;
        daily.insert(day, DayBucket { sum_minor, count });
    }
    Ok(daily)
}
