//! Strict decoding of input records.
//!
//! Why not `#[derive(Deserialize)]` straight into the structs: serde's messages for wrong types do
//! not name the field, silently accept duplicate keys, and the domain rules (id length, currency
//! shape, ranges) would still need a second pass. Instead the JSON object is read into an ordered
//! list of `(key, value)` pairs and each field is checked by hand, in a fixed order, so the first
//! reported problem is deterministic and names the field.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::error::{DecodeError, echo};
use super::{
    AccountChange, AccountStatus, Authorization, Channel, DeviceTelemetry, InputEvent,
    MAX_AMOUNT_MINOR, MAX_EVENT_TIME_MS, MAX_ID_BYTES, SourceTopic,
};

const AUTH_FIELDS: &[&str] = &[
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
];
const TELEMETRY_FIELDS: &[&str] = &["card_id", "device_id", "trusted", "event_time_ms"];
const ACCOUNT_FIELDS: &[&str] = &[
    "card_id",
    "status",
    "home_country",
    "credit_limit_minor",
    "event_time_ms",
];

/// Decode and validate one record from `topic`.
///
/// `key` may be absent (some producers do not key); when present it must equal the card_id bytes,
/// because co-partitioning by card_id is what makes per-card state local to one partition.
pub fn decode(
    topic: SourceTopic,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<InputEvent, DecodeError> {
    let bytes = value.ok_or(DecodeError::MissingValue)?;
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    let top: TopLevel = serde_json::from_str(text).map_err(|e| DecodeError::InvalidJson {
        message: e.to_string(),
    })?;
    let obj = match top {
        TopLevel::Object(pairs) => Object { pairs },
        TopLevel::Other(got) => return Err(DecodeError::NotAnObject { got }),
    };
    let event = match topic {
        SourceTopic::Authorizations => {
            obj.check_keys(AUTH_FIELDS, topic)?;
            InputEvent::Authorization(Authorization {
                txn_id: obj.id("txn_id")?,
                card_id: obj.id("card_id")?,
                account_id: obj.id("account_id")?,
                merchant_id: obj.id("merchant_id")?,
                mcc: obj.mcc("mcc")?,
                amount_minor: obj.int_in("amount_minor", 1, MAX_AMOUNT_MINOR)?,
                currency: obj.upper_letters("currency", 3, "ISO 4217")?,
                country: obj.upper_letters("country", 2, "ISO 3166-1 alpha-2")?,
                device_id: obj.id("device_id")?,
                channel: obj.channel("channel")?,
                event_time_ms: obj.int_in("event_time_ms", 0, MAX_EVENT_TIME_MS)?,
            })
        }
        SourceTopic::DeviceTelemetry => {
            obj.check_keys(TELEMETRY_FIELDS, topic)?;
            InputEvent::DeviceTelemetry(DeviceTelemetry {
                card_id: obj.id("card_id")?,
                device_id: obj.id("device_id")?,
                trusted: obj.bool("trusted")?,
                event_time_ms: obj.int_in("event_time_ms", 0, MAX_EVENT_TIME_MS)?,
            })
        }
        SourceTopic::AccountChanges => {
            obj.check_keys(ACCOUNT_FIELDS, topic)?;
            InputEvent::AccountChange(AccountChange {
                card_id: obj.id("card_id")?,
                status: obj.status("status")?,
                home_country: obj.upper_letters("home_country", 2, "ISO 3166-1 alpha-2")?,
                credit_limit_minor: obj.int_in("credit_limit_minor", 0, i64::MAX)?,
                event_time_ms: obj.int_in("event_time_ms", 0, MAX_EVENT_TIME_MS)?,
            })
        }
    };
    if let Some(k) = key
        && k != event.card_id().as_bytes()
    {
        return Err(DecodeError::KeyMismatch {
            key: k.to_vec(),
            card_id: event.card_id().to_owned(),
        });
    }
    Ok(event)
}

/// Top-level JSON, keeping object entries in document order and duplicates intact.
enum TopLevel {
    Object(Vec<(String, Value)>),
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
        let mut pairs = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            pairs.push((k, v));
        }
        Ok(TopLevel::Object(pairs))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopLevel, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(TopLevel::Other("array"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("string"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<TopLevel, E> {
        Ok(TopLevel::Other("null"))
    }
}

/// A decoded object; field accessors enforce type and domain rules.
struct Object {
    pairs: Vec<(String, Value)>,
}

fn type_name(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer".into(),
        Value::Number(n) => format!("number {n}"),
        Value::String(_) => "string".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

fn invalid(field: &'static str, reason: String) -> DecodeError {
    DecodeError::InvalidField { field, reason }
}

impl Object {
    /// Reject unknown and duplicate keys before reading fields, in document order.
    fn check_keys(&self, allowed: &[&str], topic: SourceTopic) -> Result<(), DecodeError> {
        for (i, (k, _)) in self.pairs.iter().enumerate() {
            if !allowed.contains(&k.as_str()) {
                return Err(DecodeError::UnknownField {
                    field: k.clone(),
                    topic: topic.name(),
                });
            }
            if self.pairs.iter().take(i).any(|(prev, _)| prev == k) {
                return Err(DecodeError::DuplicateField { field: k.clone() });
            }
        }
        Ok(())
    }

    fn get(&self, field: &'static str) -> Result<&Value, DecodeError> {
        self.pairs
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v)
            .ok_or(DecodeError::MissingField { field })
    }

    fn str(&self, field: &'static str) -> Result<&str, DecodeError> {
        match self.get(field)? {
            Value::String(s) => Ok(s),
            other => Err(DecodeError::WrongType {
                field,
                expected: "string",
                got: type_name(other),
            }),
        }
    }

    fn bool(&self, field: &'static str) -> Result<bool, DecodeError> {
        match self.get(field)? {
            Value::Bool(b) => Ok(*b),
            other => Err(DecodeError::WrongType {
                field,
                expected: "boolean",
                got: type_name(other),
            }),
        }
    }

    /// An integer within `[min, max]`. Floats (even `5.0`) are rejected: amounts are exact.
    fn int_in(&self, field: &'static str, min: i64, max: i64) -> Result<i64, DecodeError> {
        let v = self.get(field)?;
        let n = match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => n,
            other => {
                return Err(DecodeError::WrongType {
                    field,
                    expected: "integer",
                    got: type_name(other),
                });
            }
        };
        let Some(x) = n.as_i64() else {
            return Err(invalid(field, format!("must be <= {max}, got {n}")));
        };
        if x < min {
            let rule = if min == 1 {
                "> 0".to_owned()
            } else {
                format!(">= {min}")
            };
            return Err(invalid(field, format!("must be {rule}, got {x}")));
        }
        if x > max {
            return Err(invalid(field, format!("must be <= {max}, got {x}")));
        }
        Ok(x)
    }

    /// Opaque identifier: 1..=64 bytes, no control characters (they break logs and key routing).
    fn id(&self, field: &'static str) -> Result<String, DecodeError> {
        let s = self.str(field)?;
        if s.is_empty() {
            return Err(invalid(field, "must not be empty".into()));
        }
        if s.len() > MAX_ID_BYTES {
            return Err(invalid(
                field,
                format!("must be at most {MAX_ID_BYTES} bytes, got {}", s.len()),
            ));
        }
        if let Some((pos, c)) = s.char_indices().find(|(_, c)| c.is_control()) {
            return Err(invalid(
                field,
                format!(
                    "must not contain control characters, found U+{:04X} at byte {pos}",
                    u32::from(c)
                ),
            ));
        }
        Ok(s.to_owned())
    }

    fn upper_letters(
        &self,
        field: &'static str,
        len: usize,
        standard: &str,
    ) -> Result<String, DecodeError> {
        let s = self.str(field)?;
        if s.len() == len && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(s.to_owned())
        } else {
            Err(invalid(
                field,
                format!(
                    "must be {len} uppercase ASCII letters ({standard}), got {}",
                    echo(s)
                ),
            ))
        }
    }

    fn mcc(&self, field: &'static str) -> Result<String, DecodeError> {
        let s = self.str(field)?;
        if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(s.to_owned())
        } else {
            Err(invalid(
                field,
                format!("must be exactly 4 ASCII digits, got {}", echo(s)),
            ))
        }
    }

    fn channel(&self, field: &'static str) -> Result<Channel, DecodeError> {
        match self.str(field)? {
            "pos" => Ok(Channel::Pos),
            "ecom" => Ok(Channel::Ecom),
            "atm" => Ok(Channel::Atm),
            "moto" => Ok(Channel::Moto),
            other => Err(invalid(
                field,
                format!("must be one of pos|ecom|atm|moto, got {}", echo(other)),
            )),
        }
    }

    fn status(&self, field: &'static str) -> Result<AccountStatus, DecodeError> {
        match self.str(field)? {
            "active" => Ok(AccountStatus::Active),
            "blocked" => Ok(AccountStatus::Blocked),
            other => Err(invalid(
                field,
                format!("must be one of active|blocked, got {}", echo(other)),
            )),
        }
    }
}
