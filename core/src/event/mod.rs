//! The three input topics and their typed, validated events.
//!
//! Everything downstream (card state, features, scoring) consumes only these types, so the rules
//! in [`decode`] are the single gate between untrusted producer bytes and the deterministic core.

mod decode;
mod error;
mod peek;
#[cfg(test)]
mod tests;

pub use decode::decode;
pub use error::DecodeError;
pub use peek::peek_event_time_ms;

use serde::{Deserialize, Serialize};

/// Upper bound for any event time: 3000-01-01T00:00:00Z. Rejecting absurd times keeps one bad
/// producer clock from dragging the partition watermark into the far future.
pub const MAX_EVENT_TIME_MS: i64 = 32_503_680_000_000;
/// Upper bound for one authorization amount in minor units (10^13, i.e. 100 billion major units).
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000_000;
/// Longest accepted id in bytes; ids are opaque tokens, never free text.
pub const MAX_ID_BYTES: usize = 64;
/// The most bytes (key and value together) an input record may have to be accepted; larger ones go to the
/// DLQ (`too_large`). Bounds every output that copies an input (late records) well below Kafka's default
/// 1 MB message limit.
pub const MAX_RECORD_BYTES: usize = 65_536;

/// The three co-partitioned input topics (all keyed by card_id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SourceTopic {
    #[serde(rename = "authorizations")]
    Authorizations,
    #[serde(rename = "device-telemetry")]
    DeviceTelemetry,
    #[serde(rename = "account-changes")]
    AccountChanges,
}

impl SourceTopic {
    /// All topics in index order.
    pub const ALL: [SourceTopic; 3] = [
        SourceTopic::Authorizations,
        SourceTopic::DeviceTelemetry,
        SourceTopic::AccountChanges,
    ];

    /// Stable index used in binary formats and `[_; 3]` offset arrays. Never renumber.
    pub fn index(self) -> u8 {
        match self {
            Self::Authorizations => 0,
            Self::DeviceTelemetry => 1,
            Self::AccountChanges => 2,
        }
    }

    /// Inverse of [`index`](Self::index).
    pub fn from_index(index: u8) -> Option<Self> {
        match index {
            0 => Some(Self::Authorizations),
            1 => Some(Self::DeviceTelemetry),
            2 => Some(Self::AccountChanges),
            _ => None,
        }
    }

    /// Default topic name (also the JSON spelling and a bounded metric label).
    pub fn name(self) -> &'static str {
        match self {
            Self::Authorizations => "authorizations",
            Self::DeviceTelemetry => "device-telemetry",
            Self::AccountChanges => "account-changes",
        }
    }

    /// `index()` as a usize, for `[_; 3]` arrays (always 0..3).
    pub(crate) fn slot(self) -> usize {
        usize::from(self.index())
    }
}

/// Payment channel of an authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Pos,
    Ecom,
    Atm,
    Moto,
}

/// Account status carried by account-changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Active,
    Blocked,
}

/// One card authorization request: the only event that is scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    pub txn_id: String,
    pub card_id: String,
    pub account_id: String,
    pub merchant_id: String,
    /// ISO 18245 merchant category code, exactly 4 digits (kept as a string: leading zeros matter).
    pub mcc: String,
    pub amount_minor: i64,
    pub currency: String,
    pub country: String,
    pub device_id: String,
    pub channel: Channel,
    pub event_time_ms: i64,
}

/// Device trust signal from the device-telemetry topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceTelemetry {
    pub card_id: String,
    pub device_id: String,
    pub trusted: bool,
    pub event_time_ms: i64,
}

/// Account status/profile change from the account-changes topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountChange {
    pub card_id: String,
    pub status: AccountStatus,
    pub home_country: String,
    pub credit_limit_minor: i64,
    pub event_time_ms: i64,
}

/// A validated event from any of the three topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputEvent {
    Authorization(Authorization),
    DeviceTelemetry(DeviceTelemetry),
    AccountChange(AccountChange),
}

impl InputEvent {
    pub fn card_id(&self) -> &str {
        match self {
            Self::Authorization(a) => &a.card_id,
            Self::DeviceTelemetry(d) => &d.card_id,
            Self::AccountChange(c) => &c.card_id,
        }
    }

    pub fn event_time_ms(&self) -> i64 {
        match self {
            Self::Authorization(a) => a.event_time_ms,
            Self::DeviceTelemetry(d) => d.event_time_ms,
            Self::AccountChange(c) => c.event_time_ms,
        }
    }

    pub fn topic(&self) -> SourceTopic {
        match self {
            Self::Authorization(_) => SourceTopic::Authorizations,
            Self::DeviceTelemetry(_) => SourceTopic::DeviceTelemetry,
            Self::AccountChange(_) => SourceTopic::AccountChanges,
        }
    }

    /// Canonical JSON value bytes for this event (field order as declared), e.g. for producers
    /// and test generators. `decode(topic, None, Some(&to_json()))` yields the event back.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Self::Authorization(a) => serde_json::to_vec(a),
            Self::DeviceTelemetry(d) => serde_json::to_vec(d),
            Self::AccountChange(c) => serde_json::to_vec(c),
        }
    }
}
