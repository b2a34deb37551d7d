//! Exactly-once check of one system's committed output against its input, after a kill -9 and restart:
//! every input authorization appended in the measured window is accounted for exactly once — a decision
//! (by txn_id), a `late` record (by the txn_id in its raw value) or a DLQ record (by source position) — and
//! no txn_id is decided twice. Read with the comparison's read_committed readers.
//!
//! Only the window's inputs are checked: inputs appended after it may legitimately be unprocessed when the
//! phase ends (Flink keeps the last 5 s of event time buffered until a later watermark).

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::Message;
use serde::Serialize;
use serde_json::Value;
use sluice_cli::verify::read::read_topic;
use sluice_crds::job_config::TopicsConfig;

use super::compare::{read_decisions, read_late};
use sluice_testbed::TestBedError;

const READ_TIMEOUT: Duration = Duration::from_secs(600);
/// The DLQ's and late topic's name for the authorizations topic (`SourceTopic` serialised).
const AUTHORIZATIONS: &str = "authorizations";
const MAX_RANGES: usize = 10;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Completeness {
    /// Input authorizations appended in the window (by record timestamp).
    pub window_authorizations: u64,
    pub decisions: u64,
    /// Decisions whose txn_id was already decided (an exactly-once violation).
    pub duplicates: u64,
    /// Window authorizations with no decision, no late and no DLQ record (a loss).
    pub losses: u64,
    pub late: u64,
    pub dlq: u64,
    /// Lost inputs as offset ranges of the authorizations topic ("partition P: A..=B (N)"), at most ten:
    /// whether losses are one block per partition (one uncommitted transaction) or scattered tells why.
    pub lost_ranges: Vec<String>,
    /// Per partition, the last authorization offset of the window.
    pub window_last_offsets: Vec<i64>,
}

fn env_err(what: impl std::fmt::Display) -> TestBedError {
    TestBedError::Env(format!("exactly-once check: {what}"))
}

/// Checks `topics`' outputs against the authorizations appended up to `window_end_ms` (record timestamp).
pub fn check(
    bootstrap: &str,
    partitions: i32,
    topics: &TopicsConfig,
    window_end_ms: i64,
) -> Result<Completeness, TestBedError> {
    let parts = usize::try_from(partitions).unwrap_or(0);
    let (decided, duplicates) = read_decisions(bootstrap, &topics.decisions, parts)?;
    let late = read_late(bootstrap, &topics.late, parts)?;
    let late_txns: BTreeSet<String> = late.iter().filter_map(|l| l.txn_id.clone()).collect();
    let dlq = read_topic(&bootstrap.into(), &topics.dlq, parts, READ_TIMEOUT).map_err(env_err)?;
    let dlq_positions: BTreeSet<(i64, i64)> = dlq
        .iter()
        .flatten()
        .filter_map(|m| serde_json::from_slice::<Value>(m.payload().unwrap_or_default()).ok())
        .filter(|v| v["source_topic"].as_str() == Some(AUTHORIZATIONS))
        .map(|v| {
            (
                v["source_partition"].as_i64().unwrap_or(-1),
                v["source_offset"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let inputs = read_topic(
        &bootstrap.into(),
        &topics.authorizations,
        parts,
        READ_TIMEOUT,
    )
    .map_err(env_err)?;
    let mut c = Completeness {
        decisions: decided.len() as u64 + duplicates,
        duplicates,
        late: late.len() as u64,
        dlq: dlq.iter().map(Vec::len).sum::<usize>() as u64,
        ..Default::default()
    };
    let mut lost: Vec<(i32, i64)> = Vec::new();
    c.window_last_offsets = vec![-1; parts];
    for m in inputs.iter().flatten() {
        if m.timestamp().to_millis().is_none_or(|t| t > window_end_ms) {
            continue;
        }
        c.window_authorizations += 1;
        if let Some(last) = usize::try_from(m.partition())
            .ok()
            .and_then(|p| c.window_last_offsets.get_mut(p))
        {
            *last = (*last).max(m.offset());
        }
        let txn = serde_json::from_slice::<Value>(m.payload().unwrap_or_default())
            .ok()
            .and_then(|v| v.get("txn_id").and_then(Value::as_str).map(str::to_string));
        let accounted = txn
            .as_ref()
            .is_some_and(|t| decided.contains_key(t) || late_txns.contains(t))
            || dlq_positions.contains(&(i64::from(m.partition()), m.offset()));
        if !accounted {
            c.losses += 1;
            lost.push((m.partition(), m.offset()));
        }
    }
    c.lost_ranges = ranges(&mut lost);
    Ok(c)
}

/// Contiguous (partition, offset) runs of `lost`, formatted, at most [`MAX_RANGES`].
fn ranges(lost: &mut [(i32, i64)]) -> Vec<String> {
    lost.sort_unstable();
    let mut out: Vec<(i32, i64, i64)> = Vec::new();
    for &(p, o) in lost.iter() {
        match out.last_mut() {
            Some((lp, _, end)) if *lp == p && *end + 1 == o => *end = o,
            _ => out.push((p, o, o)),
        }
    }
    out.iter()
        .take(MAX_RANGES)
        .map(|(p, a, b)| format!("partition {p}: {a}..={b} ({})", b - a + 1))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn lost_offsets_as_ranges() {
        let mut lost = vec![(1, 7), (0, 3), (0, 4), (0, 5), (0, 9)];
        assert_eq!(
            super::ranges(&mut lost),
            vec![
                "partition 0: 3..=5 (3)",
                "partition 0: 9..=9 (1)",
                "partition 1: 7..=7 (1)"
            ]
        );
    }
}
