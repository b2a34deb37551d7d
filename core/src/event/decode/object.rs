//! Field accessors of a decoded object: each checks one field's JSON type and domain rule and
//! names the field in its error.

use super::json::{Scalar, Text};
use crate::event::error::{DecodeError, echo};
use crate::event::{AccountStatus, Channel, MAX_ID_BYTES, SourceTopic};

/// A decoded object; field accessors enforce type and domain rules.
pub(super) struct Object<'de> {
    pub(super) pairs: Vec<(Text<'de>, Scalar<'de>)>,
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
    pub(super) fn check_keys(
        &self,
        allowed: &[&str],
        topic: SourceTopic,
    ) -> Result<(), DecodeError> {
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

    pub(super) fn bool(&self, field: &'static str) -> Result<bool, DecodeError> {
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
    pub(super) fn int_in(
        &self,
        field: &'static str,
        min: i64,
        max: i64,
    ) -> Result<i64, DecodeError> {
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
    pub(super) fn id(&self, field: &'static str) -> Result<String, DecodeError> {
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

    pub(super) fn upper_letters(
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

    pub(super) fn mcc(&self, field: &'static str) -> Result<String, DecodeError> {
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

    pub(super) fn channel(&self, field: &'static str) -> Result<Channel, DecodeError> {
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

    pub(super) fn status(&self, field: &'static str) -> Result<AccountStatus, DecodeError> {
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
