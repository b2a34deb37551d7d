//! Input records and their validation (docs/semantics.md §1–2), restated from the contract.
//!
//! The JSON is parsed into an ordered list of (key, value) pairs so that unknown and repeated keys are
//! seen in document order, as the contract's checking order requires; the values are plain
//! `serde_json::Value`s and every rule is checked on them by the code below.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// The three input topics, in the contract's index order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Topic {
    Authorizations,
    DeviceTelemetry,
    AccountChanges,
}

impl Topic {
    pub const ALL: [Topic; 3] = [
        Topic::Authorizations,
        Topic::DeviceTelemetry,
        Topic::AccountChanges,
    ];

    /// The name output records use for `source_topic`.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Authorizations => "authorizations",
            Topic::DeviceTelemetry => "device-telemetry",
            Topic::AccountChanges => "account-changes",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Topic::Authorizations => 0,
            Topic::DeviceTelemetry => 1,
            Topic::AccountChanges => 2,
        }
    }

    pub fn from_index(i: u8) -> Option<Topic> {
        Topic::ALL.get(usize::from(i)).copied()
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Topic::Authorizations => &[
                "txn_id",
                "card_id",
                "account_id",
                "merchant_id",
                "mcc",
                "amount_minor",
                "currency",
                "country",
                "device_id",
                "channel",
                "event_time_ms",
            ],
            Topic::DeviceTelemetry => &["card_id", "device_id", "trusted", "event_time_ms"],
            Topic::AccountChanges => &[
                "card_id",
                "status",
                "home_country",
                "credit_limit_minor",
                "event_time_ms",
            ],
        }
    }
}

/// One input record as read from Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: Topic,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub txn_id: String,
    pub card_id: String,
    pub account_id: String,
    pub merchant_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub country: String,
    pub device_id: String,
    pub event_time_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Auth(Auth),
    Telemetry {
        card_id: String,
        device_id: String,
        trusted: bool,
        event_time_ms: i64,
    },
    Account {
        card_id: String,
        blocked: bool,
        home_country: String,
        event_time_ms: i64,
    },
}

impl Event {
    pub fn card_id(&self) -> &str {
        match self {
            Event::Auth(a) => &a.card_id,
            Event::Telemetry { card_id, .. } | Event::Account { card_id, .. } => card_id,
        }
    }

    pub fn event_time_ms(&self) -> i64 {
        match self {
            Event::Auth(a) => a.event_time_ms,
            Event::Telemetry { event_time_ms, .. } | Event::Account { event_time_ms, .. } => {
                *event_time_ms
            }
        }
    }
}

const MAX_AMOUNT_MINOR: i64 = 10_000_000_000_000;
const MAX_EVENT_TIME_MS: i64 = 32_503_680_000_000;
const MAX_ID_BYTES: usize = 64;
/// §2 rule 0: key and value together.
const MAX_RECORD_BYTES: usize = 65_536;

/// Why a record was rejected: the contract's kind (§2).
pub type Kind = &'static str;

/// An object's entries in document order, duplicates kept.
struct Pairs(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    pairs.push(entry);
                }
                Ok(Pairs(pairs))
            }
        }
        d.deserialize_map(PairsVisitor)
    }
}

/// Validates `rec` by the contract's rules, in the contract's order: the event, or the first failing
/// rule's kind.
pub fn validate(rec: &Record) -> Result<Event, Kind> {
    let size = |b: &Option<Vec<u8>>| b.as_ref().map_or(0, Vec::len);
    if size(&rec.key) + size(&rec.value) > MAX_RECORD_BYTES {
        return Err("too_large");
    }
    let bytes = rec.value.as_deref().ok_or("missing_value")?;
    let text = std::str::from_utf8(bytes).map_err(|_| "invalid_utf8")?;
    // Parsed twice: once as a whole value (is it JSON, is it an object), then as ordered pairs.
    let whole: Value = serde_json::from_str(text).map_err(|_| "invalid_json")?;
    if !whole.is_object() {
        return Err("not_an_object");
    }
    let Pairs(pairs) = serde_json::from_str(text).map_err(|_| "invalid_json")?;
    let allowed = rec.topic.fields();
    for (i, (key, _)) in pairs.iter().enumerate() {
        if !allowed.contains(&key.as_str()) {
            return Err("unknown_field");
        }
        if pairs[..i].iter().any(|(earlier, _)| earlier == key) {
            return Err("duplicate_field");
        }
    }
    let fields = Fields(&pairs);
    let event = match rec.topic {
        Topic::Authorizations => Event::Auth(Auth {
            txn_id: fields.id("txn_id")?,
            card_id: fields.id("card_id")?,
            account_id: fields.id("account_id")?,
            merchant_id: fields.id("merchant_id")?,
            amount_minor: {
                fields.digits("mcc", 4)?;
                fields.integer("amount_minor", 1, MAX_AMOUNT_MINOR)?
            },
            currency: fields.upper("currency", 3)?,
            country: fields.upper("country", 2)?,
            device_id: fields.id("device_id")?,
            event_time_ms: {
                fields.one_of("channel", &["pos", "ecom", "atm", "moto"])?;
                fields.integer("event_time_ms", 0, MAX_EVENT_TIME_MS)?
            },
        }),
        Topic::DeviceTelemetry => Event::Telemetry {
            card_id: fields.id("card_id")?,
            device_id: fields.id("device_id")?,
            trusted: fields.boolean("trusted")?,
            event_time_ms: fields.integer("event_time_ms", 0, MAX_EVENT_TIME_MS)?,
        },
        Topic::AccountChanges => Event::Account {
            card_id: fields.id("card_id")?,
            blocked: fields.one_of("status", &["active", "blocked"])? == "blocked",
            home_country: {
                let home = fields.upper("home_country", 2)?;
                fields.integer("credit_limit_minor", 0, i64::MAX)?;
                home
            },
            event_time_ms: fields.integer("event_time_ms", 0, MAX_EVENT_TIME_MS)?,
        },
    };
    match &rec.key {
        Some(key) if key.as_slice() != event.card_id().as_bytes() => Err("key_mismatch"),
        _ => Ok(event),
    }
}

/// Field access with the contract's presence, type and domain rules.
struct Fields<'a>(&'a [(String, Value)]);

impl Fields<'_> {
    fn get(&self, name: &str) -> Result<&Value, Kind> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .ok_or("missing_field")
    }

    fn string(&self, name: &str) -> Result<&str, Kind> {
        self.get(name)?.as_str().ok_or("wrong_type")
    }

    fn boolean(&self, name: &str) -> Result<bool, Kind> {
        self.get(name)?.as_bool().ok_or("wrong_type")
    }

    /// A JSON integer (not `5.0`) within `[min, max]`.
    fn integer(&self, name: &str, min: i64, max: i64) -> Result<i64, Kind> {
        let value = self.get(name)?;
        let Value::Number(n) = value else {
            return Err("wrong_type");
        };
        if n.is_f64() {
            return Err("wrong_type");
        }
        // A JSON integer above i64::MAX arrives as u64: out of every domain here.
        let x = n.as_i64().ok_or("invalid_field")?;
        if x < min || x > max {
            return Err("invalid_field");
        }
        Ok(x)
    }

    /// 1 to 64 bytes, no control character.
    fn id(&self, name: &str) -> Result<String, Kind> {
        let s = self.string(name)?;
        let ok = !s.is_empty() && s.len() <= MAX_ID_BYTES && !s.chars().any(char::is_control);
        if ok {
            Ok(s.to_string())
        } else {
            Err("invalid_field")
        }
    }

    fn upper(&self, name: &str, len: usize) -> Result<String, Kind> {
        let s = self.string(name)?;
        let ok = s.len() == len && s.chars().all(|c| c.is_ascii_uppercase());
        if ok {
            Ok(s.to_string())
        } else {
            Err("invalid_field")
        }
    }

    fn digits(&self, name: &str, len: usize) -> Result<(), Kind> {
        let s = self.string(name)?;
        let ok = s.len() == len && s.chars().all(|c| c.is_ascii_digit());
        if ok { Ok(()) } else { Err("invalid_field") }
    }

    fn one_of(&self, name: &str, allowed: &[&'static str]) -> Result<&'static str, Kind> {
        let s = self.string(name)?;
        allowed
            .iter()
            .find(|a| **a == s)
            .copied()
            .ok_or("invalid_field")
    }
}
