//! Per-partition metadata persisted next to card state.
//!
//! Only the max event time is needed: the watermark derives from it, and it must survive restarts
//! so that lateness and TTL decisions after a restore equal those of an uninterrupted run.

use crate::codec::{Reader, StateDecodeError, Writer};

/// Schema version of encoded [`PartitionMeta`].
pub const META_VERSION: u8 = 1;

/// Partition-level event-time progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionMeta {
    /// Max event time over all valid, non-late records processed on this partition.
    pub max_event_time_ms: Option<i64>,
}

impl PartitionMeta {
    /// Layout v1: `u8 version, opt ivar max_event_time_ms`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_version(META_VERSION);
        w.opt_ivar(self.max_event_time_ms);
        w.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, StateDecodeError> {
        let (&version, body) = bytes.split_first().ok_or(StateDecodeError::Empty)?;
        if version != META_VERSION {
            return Err(StateDecodeError::UnsupportedVersion {
                what: "partition meta",
                found: version,
                supported: "1",
            });
        }
        let mut r = Reader::new(body);
        let max_event_time_ms = r.opt_ivar("max_event_time_ms")?;
        r.finish()?;
        Ok(Self { max_event_time_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_garbage() {
        for m in [None, Some(0), Some(1_700_000_000_000)] {
            let meta = PartitionMeta {
                max_event_time_ms: m,
            };
            assert_eq!(PartitionMeta::decode(&meta.encode()).unwrap(), meta);
        }
        assert!(PartitionMeta::decode(&[]).is_err());
        assert!(PartitionMeta::decode(&[2, 0]).is_err());
        assert!(PartitionMeta::decode(&[1, 0, 0]).is_err());
        assert!(PartitionMeta::decode(&[1, 1]).is_err());
    }
}
