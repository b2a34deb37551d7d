//! Strict decoding of input records.
//!
//! Why not `#[derive(Deserialize)]` straight into the structs: serde's messages for wrong types do
//! not name the field, silently accept duplicate keys, and the domain rules (id length, currency
//! shape, ranges) would still need a second pass. Instead the JSON object is read into an ordered
//! list of `(key, value)` pairs and each field is checked by hand, in a fixed order, so the first
//! reported problem is deterministic and names the field.
//!
//! The pairs borrow from the input wherever JSON allows (no escapes), and nested values are only
//! skipped and typed: this runs once per input record, and building a `serde_json::Value` tree was
//! a tenth of the worker's CPU.

use std::borrow::Cow;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

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
enum TopLevel<'de> {
    Object(Vec<(Text<'de>, Scalar<'de>)>),
    Other(&'static str),
}

/// A JSON string, borrowed from the input unless it had escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(s)))
    }
}

/// One field's value: scalars kept, arrays and objects only recognised (no field is one).
enum Scalar<'de> {
    Null,
    Bool(bool),
    /// Any JSON integer; i128 holds both i64 and u64.
    Int(i128),
    Float(f64),
    Str(Cow<'de, str>),
    Array,
    Object,
}

impl<'de> serde::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Int(i128::from(n)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Int(i128::from(n)))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Float(n))
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(s)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

impl<'de> serde::Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel<'de>, A::Error> {
        let mut pairs = Vec::with_capacity(AUTH_FIELDS.len());
        while let Some((k, v)) = map.next_entry::<Text<'de>, Scalar<'de>>()? {
            pairs.push((k, v));
        }
        Ok(TopLevel::Object(pairs))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TopLevel<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(TopLevel::Other("array"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<TopLevel<'de>, E> {
        Ok(TopLevel::Other("boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<TopLevel<'de>, E> {
        Ok(TopLevel::Other("number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<TopLevel<'de>, E> {
        Ok(TopLevel::Other("number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<TopLevel<'de>, E> {
        Ok(TopLevel::Other("number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<TopLevel<'de>, E> {
        Ok(TopLevel::Other("string"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<TopLevel<'de>, E> {
        Ok(TopLevel::Other("null"))
    }
}

/// A decoded object; field accessors enforce type and domain rules.
struct Object<'de> {
    pairs: Vec<(Text<'de>, Scalar<'de>)>,
}

fn type_name(v: &Scalar<'_>) -> String {
    match v {
        Scalar::Null => "null".into(),
        Scalar::Bool(_) => "boolean".into(),
        Scalar::Int(_) => "integer".into(),
        // serde_json's rendering, so messages read as they did when values were `serde_json::Value`.
        Scalar::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => format!("number {n}"),
            None => format!("number {f}"),
        },
        Scalar::Str(_) => "string".into(),
        Scalar::Array => "array".into(),
        Scalar::Object => "object".into(),
    }
}

fn invalid(field: &'static str, reason: String) -> DecodeError {
    DecodeError::InvalidField { field, reason }
}

impl Object<'_> {
    /// Reject unknown and duplicate keys before reading fields, in document order.
    fn check_keys(&self, allowed: &[&str], topic: SourceTopic) -> Result<(), DecodeError> {
        for (i, (k, _)) in self.pairs.iter().enumerate() {
            let k = k.0.as_ref();
            if !allowed.contains(&k) {
                return Err(DecodeError::UnknownField {
                    field: k.to_owned(),
                    topic: topic.name(),
                });
            }
            if self.pairs.iter().take(i).any(|(prev, _)| prev.0 == k) {
                return Err(DecodeError::DuplicateField {
                    field: k.to_owned(),
                });
            }
        }
        Ok(())
    }

    fn get(&self, field: &'static str) -> Result<&Scalar<'_>, DecodeError> {
        self.pairs
            .iter()
            .find(|(k, _)| k.0 == field)
            .map(|(_, v)| v)
            .ok_or(DecodeError::MissingField { field })
    }

    fn str(&self, field: &'static str) -> Result<&str, DecodeError> {
        match self.get(field)? {
            Scalar::Str(s) => Ok(s),
            other => Err(DecodeError::WrongType {
                field,
                expected: "string",
                got: type_name(other),
            }),
        }
    }

    fn bool(&self, field: &'static str) -> Result<bool, DecodeError> {
        match self.get(field)? {
            Scalar::Bool(b) => Ok(*b),
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
            Scalar::Int(n) => *n,
            other => {
                return Err(DecodeError::WrongType {
                    field,
                    expected: "integer",
                    got: type_name(other),
                });
            }
        };
        let Ok(x) = i64::try_from(n) else {
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
