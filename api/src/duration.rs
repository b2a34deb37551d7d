//! Human durations in config and CRDs (`100ms`, `5s`, `15m`, `2h`, `45d`), stored as whole milliseconds.
//!
//! Kept deliberately small and strict: one integer and one unit, so a typo such as `15 min` or `1.5s` is an
//! error that names the accepted forms instead of a silently different value.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration with millisecond precision, written as `<integer><unit>`, unit one of
/// `ms`, `s`, `m`, `h`, `d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: {why}; write an integer followed by ms, s, m, h or d, e.g. \"100ms\" or \"15m\""
)]
pub struct DurationError {
    pub input: String,
    pub why: &'static str,
}

impl Millis {
    pub const fn from_secs(s: u64) -> Millis {
        Millis(s * 1000)
    }

    pub fn as_millis(self) -> u64 {
        self.0
    }

    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

impl FromStr for Millis {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Millis, DurationError> {
        let err = |why| DurationError {
            input: input.to_string(),
            why,
        };
        let digits_end = input
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(input.len());
        let (num, unit) = input.split_at(digits_end);
        if num.is_empty() {
            return Err(err("it must start with a whole number"));
        }
        let value: u64 = num.parse().map_err(|_| err("the number is too large"))?;
        let factor: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(err("the unit is missing")),
            _ => return Err(err("unknown unit")),
        };
        value
            .checked_mul(factor)
            .map(Millis)
            .ok_or_else(|| err("the duration is too large"))
    }
}

impl fmt::Display for Millis {
    /// The largest unit that represents the value exactly, so `Display` output parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        for (factor, unit) in [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ] {
            if ms != 0 && ms.is_multiple_of(factor) {
                return write!(f, "{}{unit}", ms / factor);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Millis {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(ms|s|m|h|d)$",
            "description": "A duration: a whole number followed by ms, s, m, h or d, e.g. \"100ms\", \"15m\"."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Millis;

    #[test]
    fn parses_each_unit() {
        assert_eq!("100ms".parse(), Ok(Millis(100)));
        assert_eq!("5s".parse(), Ok(Millis(5_000)));
        assert_eq!("15m".parse(), Ok(Millis(900_000)));
        assert_eq!("2h".parse(), Ok(Millis(7_200_000)));
        assert_eq!("45d".parse(), Ok(Millis(45 * 86_400_000)));
    }

    #[test]
    fn rejects_ambiguous_forms_with_a_hint() {
        for bad in [
            "",
            "s",
            "1.5s",
            "15 min",
            "-1s",
            "10",
            "10x",
            "99999999999999999999d",
        ] {
            let err = bad.parse::<Millis>().unwrap_err();
            assert!(err.to_string().contains("e.g."), "{bad}: {err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for ms in [0, 1, 999, 1_000, 90_000, 3_600_000, 86_400_000, 86_400_001] {
            let m = Millis(ms);
            assert_eq!(m.to_string().parse::<Millis>(), Ok(m));
        }
    }
}
