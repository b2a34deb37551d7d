//! The per-partition input offsets an audit snapshot covers, kept in the snapshot summary.
//!
//! The offsets live in the same snapshot as the rows they describe, so the one catalog commit
//! that makes rows visible also records how far they go: after a crash the table itself says
//! which decisions are missing. The map is cumulative (merged with the parent snapshot's), so
//! recovery reads one summary, not the whole history.

use std::collections::BTreeMap;

use sluice_core::processor::DecisionRecord;

/// Snapshot summary property: JSON object `{"<source partition>": <next offset not covered>}`.
pub const OFFSETS_PROPERTY: &str = "sluice.offsets";

/// Snapshot summary property: JSON object `{"<source partition>": <offset>}` — where the writer's row source
/// (the decisions log) continues for that partition. Lets a restarted writer resume without a scan.
pub const LOG_POSITIONS_PROPERTY: &str = "sluice.log-positions";

/// Source partition → next input offset not yet covered (Kafka's committed-offset convention).
pub type Offsets = BTreeMap<i32, i64>;

/// Decodes the summary property (absent → empty: a snapshot not written by Sluice covers nothing).
pub fn decode(value: Option<&String>) -> Result<Offsets, String> {
    match value {
        None => Ok(Offsets::new()),
        Some(json) => serde_json::from_str(json).map_err(|e| format!("{json:?}: {e}")),
    }
}

pub fn encode(offsets: &Offsets) -> String {
    // A BTreeMap of plain numbers always serializes; the fallback is unreachable in practice.
    serde_json::to_string(offsets).unwrap_or_else(|_| "{}".to_string())
}

/// `previous` with the partitions in `covers` replaced.
pub fn merge(previous: &Offsets, covers: &Offsets) -> Offsets {
    let mut merged = previous.clone();
    merged.extend(covers.iter().map(|(p, o)| (*p, *o)));
    merged
}

/// Checks that `rows` are exactly what an append covering `covers` may contain given what is
/// already `committed`: every row's offset lies in `[committed, covers)` of its partition, and no
/// partition moves back. A violation means a duplicate (regenerated rows not filtered with
/// [`uncommitted`]) or a stale writer, and committing it would break exactly-once.
pub fn check_append(
    rows: &[DecisionRecord],
    covers: &Offsets,
    committed: &Offsets,
) -> Result<(), String> {
    for (partition, next) in covers {
        if let Some(done) = committed.get(partition)
            && next < done
        {
            return Err(format!(
                "partition {partition}: covers up to {next} but {done} is already committed \
                 (stale writer?)"
            ));
        }
    }
    for row in rows {
        let p = row.source_partition;
        let Some(next) = covers.get(&p) else {
            return Err(format!(
                "txn {}: partition {p} is not in the covered offsets",
                row.txn_id
            ));
        };
        if row.source_offset >= *next {
            return Err(format!(
                "txn {}: partition {p} offset {} is not below the covered offset {next}",
                row.txn_id, row.source_offset
            ));
        }
        let done = committed.get(&p).copied().unwrap_or(i64::MIN);
        if row.source_offset < done {
            return Err(format!(
                "txn {}: partition {p} offset {} is already committed (up to {done}); \
                 filter regenerated rows with uncommitted()",
                row.txn_id, row.source_offset
            ));
        }
    }
    Ok(())
}

/// The rows a recovering worker still has to append: those at or after the committed offset of
/// their partition. Replay regenerates decisions deterministically, so this is how it writes
/// only what is missing.
pub fn uncommitted<'a>(
    rows: impl IntoIterator<Item = &'a DecisionRecord>,
    committed: &Offsets,
) -> Vec<&'a DecisionRecord> {
    rows.into_iter()
        .filter(|r| {
            committed
                .get(&r.source_partition)
                .is_none_or(|done| r.source_offset >= *done)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_partitions_not_covered() {
        let prev = Offsets::from([(0, 10), (1, 20)]);
        let merged = merge(&prev, &Offsets::from([(1, 25), (2, 5)]));
        assert_eq!(merged, Offsets::from([(0, 10), (1, 25), (2, 5)]));
        assert_eq!(decode(Some(&encode(&merged))).unwrap(), merged);
        assert_eq!(decode(None).unwrap(), Offsets::new());
        assert!(decode(Some(&"[1]".to_string())).is_err());
    }

    #[test]
    fn backward_covers_are_rejected() {
        let err = check_append(&[], &Offsets::from([(0, 5)]), &Offsets::from([(0, 6)]));
        assert!(err.unwrap_err().contains("partition 0"));
    }
}
