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
//!
//! [`json`] reads the pairs, [`object`] checks one field at a time, [`topics`] lists each topic's
//! fields in the order they are checked.

mod json;
mod object;
mod topics;

use crate::event::error::DecodeError;
use crate::event::{InputEvent, MAX_RECORD_BYTES, SourceTopic};
use json::TopLevel;
use object::Object;

/// Decode and validate one record from `topic`.
///
/// `key` may be absent (some producers do not key); when present it must equal the card_id bytes,
/// because co-partitioning by card_id is what makes per-card state local to one partition.
pub fn decode(
    topic: SourceTopic,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<InputEvent, DecodeError> {
    let len = key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
    if len > MAX_RECORD_BYTES {
        return Err(DecodeError::TooLarge {
            len,
            limit: MAX_RECORD_BYTES,
        });
    }
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
        SourceTopic::Authorizations => topics::authorization(&obj)?,
        SourceTopic::DeviceTelemetry => topics::device_telemetry(&obj)?,
        SourceTopic::AccountChanges => topics::account_change(&obj)?,
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
