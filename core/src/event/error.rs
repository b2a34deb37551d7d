//! Why an input record was rejected to the DLQ.
//!
//! The `Display` text is what an operator reads in the DLQ record, so it names the field and the
//! rule it broke. `kind()` is the bounded label for metrics: it never contains input data.

use thiserror::Error;

/// Longest excerpt of untrusted input echoed into an error message, so a hostile record cannot
/// blow up DLQ records or logs.
const MAX_ECHO_CHARS: usize = 40;

/// A record that cannot become an [`InputEvent`](super::InputEvent).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Tombstone (null value): the sources never delete, so this is a producer bug.
    /// Key and value together above [`crate::event::MAX_RECORD_BYTES`]: no valid event is near that size,
    /// and copying it into an output could exceed the producer's message limit.
    #[error(
        "record: key and value are {len} bytes, more than the {limit} an input record may have"
    )]
    TooLarge { len: usize, limit: usize },
    #[error("value: missing (tombstone record)")]
    MissingValue,
    #[error("value: invalid UTF-8 at byte {valid_up_to}")]
    InvalidUtf8 { valid_up_to: usize },
    #[error("value: invalid JSON: {message}")]
    InvalidJson { message: String },
    #[error("value: expected a JSON object, got {got}")]
    NotAnObject { got: &'static str },
    #[error("field {}: unknown field for topic {topic}", echo(.field))]
    UnknownField { field: String, topic: &'static str },
    #[error("field {}: appears more than once", echo(.field))]
    DuplicateField { field: String },
    #[error("field {field}: missing")]
    MissingField { field: &'static str },
    #[error("field {field}: expected {expected}, got {got}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        got: String,
    },
    /// Right type, but the value breaks a domain rule; `reason` already says which.
    #[error("field {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    /// Records are keyed by card_id so that all of a card's events land in one partition; a
    /// different key means the record may have been routed to the wrong partition.
    #[error("key: must equal card_id {}, got {}", echo(.card_id), echo_bytes(.key))]
    KeyMismatch { key: Vec<u8>, card_id: String },
}

impl DecodeError {
    /// Bounded label for metrics (one value per variant).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::MissingValue => "missing_value",
            Self::InvalidUtf8 { .. } => "invalid_utf8",
            Self::InvalidJson { .. } => "invalid_json",
            Self::NotAnObject { .. } => "not_an_object",
            Self::UnknownField { .. } => "unknown_field",
            Self::DuplicateField { .. } => "duplicate_field",
            Self::MissingField { .. } => "missing_field",
            Self::WrongType { .. } => "wrong_type",
            Self::InvalidField { .. } => "invalid_field",
            Self::KeyMismatch { .. } => "key_mismatch",
        }
    }

    /// Every `kind()` value, for pre-registering metric series.
    pub const KINDS: [&'static str; 11] = [
        "too_large",
        "missing_value",
        "invalid_utf8",
        "invalid_json",
        "not_an_object",
        "unknown_field",
        "duplicate_field",
        "missing_field",
        "wrong_type",
        "invalid_field",
        "key_mismatch",
    ];
}

/// Quote untrusted text for an error message: escaped (no control characters reach the reader) and
/// truncated to [`MAX_ECHO_CHARS`].
pub(crate) fn echo(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_ECHO_CHARS).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("{out:?}")
}

fn echo_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => echo(s),
        Err(_) => format!(
            "{} non-UTF-8 bytes (hex {})",
            bytes.len(),
            crate::hex::encode(bytes.get(..MAX_ECHO_CHARS / 2).unwrap_or(bytes))
        ),
    }
}
