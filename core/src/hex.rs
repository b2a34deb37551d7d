//! Lowercase hex for raw record bytes in DLQ/late records.
//!
//! Why hex and not base64: it is trivially deterministic, greppable, and needs no dependency; DLQ
//! traffic is small enough that the 2x size does not matter.

use thiserror::Error;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Encode bytes as lowercase hex (two characters per byte).
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Why a hex string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HexError {
    #[error("hex string has odd length {0}")]
    OddLength(usize),
    #[error("invalid hex digit at position {0}")]
    InvalidDigit(usize),
}

/// Decode hex (either case), e.g. to re-feed a DLQ record after fixing its producer.
pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
    let raw = text.as_bytes();
    if !raw.len().is_multiple_of(2) {
        return Err(HexError::OddLength(raw.len()));
    }
    raw.chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| match pair {
            [hi, lo] => {
                let h = nibble(*hi).ok_or(HexError::InvalidDigit(2 * i))?;
                let l = nibble(*lo).ok_or(HexError::InvalidDigit(2 * i + 1))?;
                Ok((h << 4) | l)
            }
            _ => Err(HexError::OddLength(raw.len())),
        })
        .collect()
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        assert_eq!(encode(b"\x00\xffA"), "00ff41");
        assert_eq!(decode("0"), Err(HexError::OddLength(1)));
        assert_eq!(decode("0g"), Err(HexError::InvalidDigit(1)));
    }
}
