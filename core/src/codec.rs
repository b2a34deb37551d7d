//! Compact binary primitives shared by every persisted format (card state, partition meta, progress
//! records).
//!
//! Why hand-written instead of serde: these bytes sit in the hot path (one read and one write per
//! record) and must stay decodable across releases. A tiny LEB128/zigzag vocabulary keeps them small,
//! makes the layout explicit in code review, and lets every reader fail with a typed error instead of
//! panicking on truncated or garbled input.

use thiserror::Error;

/// Why persisted bytes could not be decoded. Never produced by a panic path: every read is bounds
/// checked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StateDecodeError {
    /// Zero bytes: there is not even a version byte.
    #[error("empty input: expected a schema version byte")]
    Empty,
    /// The first byte names a schema this build does not know (written by a newer release, or garbage).
    #[error(
        "unsupported schema version {found} for {what} (this build reads versions {supported})"
    )]
    UnsupportedVersion {
        what: &'static str,
        found: u8,
        supported: &'static str,
    },
    /// Input ended in the middle of a value.
    #[error("truncated input while reading {what}")]
    Truncated { what: &'static str },
    /// A varint ran past its maximum width.
    #[error("varint too long while reading {what}")]
    VarintOverflow { what: &'static str },
    /// A string was not UTF-8.
    #[error("invalid UTF-8 in {what}")]
    InvalidUtf8 { what: &'static str },
    /// An enum/option tag byte had no meaning.
    #[error("invalid tag {tag} for {what}")]
    InvalidTag { what: &'static str, tag: u8 },
    /// A value decoded but is outside the range the format allows.
    #[error("value out of range for {what}")]
    OutOfRange { what: &'static str },
    /// Map-like sections must be strictly ascending so that one state has exactly one encoding.
    #[error("{what} is not strictly ascending")]
    NotSorted { what: &'static str },
    /// Bytes left over after a complete value: the record was written by something else.
    #[error("{count} trailing bytes after a complete value")]
    TrailingBytes { count: usize },
}

impl StateDecodeError {
    /// Bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::UnsupportedVersion { .. } => "unsupported_version",
            Self::Truncated { .. } => "truncated",
            Self::VarintOverflow { .. } => "varint_overflow",
            Self::InvalidUtf8 { .. } => "invalid_utf8",
            Self::InvalidTag { .. } => "invalid_tag",
            Self::OutOfRange { .. } => "out_of_range",
            Self::NotSorted { .. } => "not_sorted",
            Self::TrailingBytes { .. } => "trailing_bytes",
        }
    }
}

/// Append-only byte sink. Writing cannot fail, so the encoders are infallible.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_version(version: u8) -> Self {
        Self { buf: vec![version] }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Unsigned LEB128; wide enough for u128 so that 30-day amount sums can never overflow.
    pub(crate) fn uvar(&mut self, v: u128) {
        let mut rest = v;
        loop {
            let low = (rest & 0x7f) as u8;
            rest >>= 7;
            if rest == 0 {
                self.buf.push(low);
                return;
            }
            self.buf.push(low | 0x80);
        }
    }

    /// Zigzag so that small negative numbers (rare, but legal in offsets/deltas) stay short.
    pub(crate) fn ivar(&mut self, v: i64) {
        let zigzag = ((v << 1) ^ (v >> 63)) as u64;
        self.uvar(u128::from(zigzag));
    }

    pub(crate) fn opt_ivar(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.ivar(x);
            }
        }
    }

    pub(crate) fn len(&mut self, n: usize) {
        self.uvar(n as u128);
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }
}

/// Bounds-checked cursor over untrusted bytes.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, StateDecodeError> {
        let (&first, rest) = self
            .rest
            .split_first()
            .ok_or(StateDecodeError::Truncated { what })?;
        self.rest = rest;
        Ok(first)
    }

    pub(crate) fn uvar(&mut self, what: &'static str) -> Result<u128, StateDecodeError> {
        let mut value: u128 = 0;
        let mut shift: u32 = 0;
        loop {
            let byte = self.u8(what)?;
            let low = u128::from(byte & 0x7f);
            // 19 groups of 7 bits cover 128 bits; anything longer (or bits shifted out) is garbage.
            if shift >= 128 || (low << shift) >> shift != low {
                return Err(StateDecodeError::VarintOverflow { what });
            }
            value |= low << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, StateDecodeError> {
        u64::try_from(self.uvar(what)?).map_err(|_| StateDecodeError::OutOfRange { what })
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, StateDecodeError> {
        u32::try_from(self.uvar(what)?).map_err(|_| StateDecodeError::OutOfRange { what })
    }

    pub(crate) fn ivar(&mut self, what: &'static str) -> Result<i64, StateDecodeError> {
        let z = self.u64(what)?;
        let magnitude = (z >> 1) as i64;
        Ok(if z & 1 == 0 { magnitude } else { !magnitude })
    }

    pub(crate) fn opt_ivar(&mut self, what: &'static str) -> Result<Option<i64>, StateDecodeError> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => Ok(Some(self.ivar(what)?)),
            tag => Err(StateDecodeError::InvalidTag { what, tag }),
        }
    }

    /// A length that must be satisfiable by the remaining input, each element taking at least
    /// `min_elem_bytes`. Guards allocations against absurd lengths in garbled input.
    pub(crate) fn len(
        &mut self,
        what: &'static str,
        min_elem_bytes: usize,
    ) -> Result<usize, StateDecodeError> {
        let n =
            usize::try_from(self.uvar(what)?).map_err(|_| StateDecodeError::OutOfRange { what })?;
        let needed = n
            .checked_mul(min_elem_bytes)
            .ok_or(StateDecodeError::Truncated { what })?;
        if needed > self.rest.len() {
            return Err(StateDecodeError::Truncated { what });
        }
        Ok(n)
    }

    pub(crate) fn bytes(
        &mut self,
        what: &'static str,
        n: usize,
    ) -> Result<&'a [u8], StateDecodeError> {
        if n > self.rest.len() {
            return Err(StateDecodeError::Truncated { what });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn string(&mut self, what: &'static str) -> Result<String, StateDecodeError> {
        let n = self.len(what, 1)?;
        let raw = self.bytes(what, n)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| StateDecodeError::InvalidUtf8 { what })
    }

    /// Every format is self-delimiting; leftovers mean the bytes are not what we think they are.
    pub(crate) fn finish(self) -> Result<(), StateDecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(StateDecodeError::TrailingBytes {
                count: self.rest.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_extremes() {
        let ints = [0, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 1_700_000_000_000];
        let mut w = Writer::default();
        for v in ints {
            w.ivar(v);
        }
        w.uvar(u128::MAX);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        for v in ints {
            assert_eq!(r.ivar("x").unwrap(), v);
        }
        assert_eq!(r.uvar("x").unwrap(), u128::MAX);
        r.finish().unwrap();
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let bytes = [0xffu8; 40];
        let err = Reader::new(&bytes).uvar("x").unwrap_err();
        assert_eq!(err.kind(), "varint_overflow");
        let err = Reader::new(&[0x80, 0x80]).uvar("x").unwrap_err();
        assert_eq!(err.kind(), "truncated");
    }

    #[test]
    fn absurd_lengths_are_rejected_before_allocating() {
        let mut w = Writer::default();
        w.uvar(u128::from(u64::MAX));
        let bytes = w.into_bytes();
        assert!(Reader::new(&bytes).len("list", 1).is_err());
    }
}
