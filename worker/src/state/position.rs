//! The input position a partition's state reflects, stored *inside* the state (same RocksDB write batch as the
//! card updates of a transaction).
//!
//! Because the position travels atomically with the data, a RocksDB checkpoint taken at any moment — on a
//! background thread, while the processing thread keeps writing — is self-describing: whatever prefix of
//! write batches it captured, its position key says exactly which committed transaction it ends at. That is
//! what lets checkpoints leave the processing thread entirely.

/// Schema version byte of an encoded [`StatePosition`].
const POSITION_VERSION: u8 = 1;
const ENCODED_LEN: usize = 1 + 3 * 8 + 8;

/// Where the state stands in the committed input history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatePosition {
    /// Next input offset per source topic (authorizations, device-telemetry, account-changes): the state
    /// contains exactly the records before these.
    pub offsets: [i64; 3],
    /// The last committed transaction (progress chain link) whose input the state includes.
    pub txn_seq: u64,
}

/// Why stored position bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state position is invalid: {0}")]
pub struct PositionDecodeError(&'static str);

impl StatePosition {
    /// Layout v1: `u8 version, 3 × i64 LE offsets, u64 LE txn_seq`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCODED_LEN);
        out.push(POSITION_VERSION);
        for o in self.offsets {
            out.extend_from_slice(&o.to_le_bytes());
        }
        out.extend_from_slice(&self.txn_seq.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<StatePosition, PositionDecodeError> {
        let (&version, body) = bytes.split_first().ok_or(PositionDecodeError("empty"))?;
        if version != POSITION_VERSION {
            return Err(PositionDecodeError(
                "unsupported version (this build reads 1)",
            ));
        }
        if bytes.len() != ENCODED_LEN {
            return Err(PositionDecodeError("wrong length"));
        }
        let word = |i: usize| -> Result<[u8; 8], PositionDecodeError> {
            body.get(i * 8..i * 8 + 8)
                .and_then(|s| s.try_into().ok())
                .ok_or(PositionDecodeError("truncated"))
        };
        Ok(StatePosition {
            offsets: [
                i64::from_le_bytes(word(0)?),
                i64::from_le_bytes(word(1)?),
                i64::from_le_bytes(word(2)?),
            ],
            txn_seq: u64::from_le_bytes(word(3)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn round_trips(a: i64, b: i64, c: i64, seq: u64) {
            let p = StatePosition { offsets: [a, b, c], txn_seq: seq };
            prop_assert_eq!(StatePosition::decode(&p.encode()), Ok(p));
        }
    }

    #[test]
    fn rejects_foreign_bytes() {
        assert!(StatePosition::decode(&[]).is_err());
        assert!(StatePosition::decode(&[2; ENCODED_LEN]).is_err());
        assert!(StatePosition::decode(&[1, 0, 0]).is_err());
    }
}
