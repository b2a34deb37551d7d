//! Do two systems that ran the fraud job over the same input topics agree? Compares their committed
//! decisions (read_committed) by txn_id, byte for byte, and explains each difference.
//!
//! Decisions can legitimately differ where the two systems processed a card's events in a different order
//! (Flink releases each card's buffered events by watermark; Sluice merges a partition's topics by queue
//! head) or routed a record to `late` on one side only (Flink's watermark is the minimum over all input
//! splits, so it is never ahead of Sluice's per-partition watermark: see docs/benchmarks.md). Equal
//! features with a different score or decision can never be legitimate: that is a bug, reported as such.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::Message;
use serde::Serialize;
use serde_json::Value;
use sluice_cli::verify::read::read_topic;
use sluice_crds::job_config::TopicsConfig;

use sluice_testbed::TestBedError;

const READ_TIMEOUT: Duration = Duration::from_secs(600);
const MAX_EXAMPLES: usize = 6;
/// The reason recorded when equal features produced different scores: a scoring bug on one side.
pub const SCORING_BUG: &str = "equal features, different score or decision (scoring bug)";

/// The result of comparing system A (Sluice) with system B (Flink).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecisionComparison {
    pub a_decisions: u64,
    pub b_decisions: u64,
    /// Decisions with the same txn_id appearing twice in one system's output (exactly-once violations).
    pub a_duplicates: u64,
    pub b_duplicates: u64,
    pub both_decided: u64,
    /// Of `both_decided`: byte-identical.
    pub equal: u64,
    pub mismatched: u64,
    /// Decided by A only, and B routed the authorization to `late` (or not at all: `a_only_unexplained`).
    pub a_only_b_late: u64,
    pub a_only_unexplained: u64,
    pub b_only_a_late: u64,
    pub b_only_unexplained: u64,
    pub a_late: u64,
    pub b_late: u64,
    /// Mismatches by reason (which features differ, and whether the card saw a late-routing difference).
    pub mismatch_reasons: BTreeMap<String, u64>,
    pub examples: Vec<String>,
}

impl DecisionComparison {
    /// Share of jointly decided authorizations with identical decision bytes.
    pub fn equal_share(&self) -> f64 {
        self.equal as f64 / (self.both_decided.max(1)) as f64
    }

    /// True when no difference points at a bug: no duplicates, no unexplained one-sided decisions, and no
    /// scoring difference on equal features.
    pub fn explained(&self) -> bool {
        self.a_duplicates == 0
            && self.b_duplicates == 0
            && self.a_only_unexplained == 0
            && self.b_only_unexplained == 0
            && !self.mismatch_reasons.contains_key(SCORING_BUG)
    }
}

fn env_err(what: impl std::fmt::Display) -> TestBedError {
    TestBedError::Env(format!("comparing decisions: {what}"))
}

/// txn_id → decision bytes (and the count of duplicate txn_ids).
pub(super) fn read_decisions(
    bootstrap: &str,
    topic: &str,
    partitions: usize,
) -> Result<(BTreeMap<String, Vec<u8>>, u64), TestBedError> {
    let msgs = read_topic(&bootstrap.into(), topic, partitions, READ_TIMEOUT).map_err(env_err)?;
    let mut out = BTreeMap::new();
    let mut duplicates = 0;
    for m in msgs.iter().flatten() {
        let bytes = m.payload().unwrap_or_default().to_vec();
        let txn = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("txn_id").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        if out.insert(txn, bytes).is_some() {
            duplicates += 1;
        }
    }
    Ok((out, duplicates))
}

/// A late record's source position and, for authorizations, txn_id and card_id (from its raw value).
pub(super) struct LateInfo {
    pub position: (String, i64, i64),
    pub txn_id: Option<String>,
    pub card_id: String,
}

pub(super) fn read_late(
    bootstrap: &str,
    topic: &str,
    partitions: usize,
) -> Result<Vec<LateInfo>, TestBedError> {
    let msgs = read_topic(&bootstrap.into(), topic, partitions, READ_TIMEOUT).map_err(env_err)?;
    let mut out = Vec::new();
    for m in msgs.iter().flatten() {
        let Ok(v) = serde_json::from_slice::<Value>(m.payload().unwrap_or_default()) else {
            continue;
        };
        let field = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        let input = field("value_hex")
            .as_str()
            .and_then(hex_decode)
            .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok());
        out.push(LateInfo {
            position: (
                field("source_topic").as_str().unwrap_or("").to_string(),
                field("source_partition").as_i64().unwrap_or(-1),
                field("source_offset").as_i64().unwrap_or(-1),
            ),
            txn_id: input
                .as_ref()
                .and_then(|i| i.get("txn_id").and_then(Value::as_str).map(str::to_string)),
            card_id: field("card_id").as_str().unwrap_or("").to_string(),
        });
    }
    Ok(out)
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

/// Why two decisions for one txn_id differ.
fn mismatch_reason(a: &[u8], b: &[u8], late_diverged: bool) -> String {
    let (Ok(va), Ok(vb)) = (
        serde_json::from_slice::<Value>(a),
        serde_json::from_slice::<Value>(b),
    ) else {
        return "unparseable decision".into();
    };
    let prefix = if late_diverged {
        "card had a late-routing difference; "
    } else {
        ""
    };
    let (fa, fb) = (va.get("features"), vb.get("features"));
    if fa == fb {
        let scored = ["score", "decision", "reasons"];
        if scored.iter().any(|k| va.get(k) != vb.get(k)) {
            return SCORING_BUG.into();
        }
        let other: Vec<&str> = va
            .as_object()
            .map(|o| {
                o.keys()
                    .filter(|k| va.get(k.as_str()) != vb.get(k.as_str()))
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default();
        return format!("{prefix}other fields differ: {}", other.join(","));
    }
    let names: Vec<&str> = fa
        .and_then(Value::as_object)
        .map(|o| {
            o.keys()
                .filter(|k| {
                    fa.and_then(|f| f.get(k.as_str())) != fb.and_then(|f| f.get(k.as_str()))
                })
                .map(String::as_str)
                .collect()
        })
        .unwrap_or_default();
    format!("{prefix}features differ: {}", names.join(","))
}

/// Compares A's and B's committed decisions (and late records) over the same inputs.
pub fn compare_decisions(
    bootstrap: &str,
    partitions: i32,
    a: &TopicsConfig,
    b: &TopicsConfig,
) -> Result<DecisionComparison, TestBedError> {
    let parts = usize::try_from(partitions).unwrap_or(0);
    let (da, a_dup) = read_decisions(bootstrap, &a.decisions, parts)?;
    let (db, b_dup) = read_decisions(bootstrap, &b.decisions, parts)?;
    let (la, lb) = (
        read_late(bootstrap, &a.late, parts)?,
        read_late(bootstrap, &b.late, parts)?,
    );
    let late_txns = |l: &[LateInfo]| -> BTreeSet<String> {
        l.iter().filter_map(|i| i.txn_id.clone()).collect()
    };
    let (a_late_txns, b_late_txns) = (late_txns(&la), late_txns(&lb));
    // Cards where a record was late on one side only: every later decision of the card may differ.
    let positions = |l: &[LateInfo]| -> BTreeSet<(String, i64, i64)> {
        l.iter().map(|i| i.position.clone()).collect()
    };
    let (pa, pb) = (positions(&la), positions(&lb));
    let diverged: BTreeSet<&str> = la
        .iter()
        .filter(|i| !pb.contains(&i.position))
        .chain(lb.iter().filter(|i| !pa.contains(&i.position)))
        .map(|i| i.card_id.as_str())
        .collect();

    let mut c = DecisionComparison {
        a_decisions: da.len() as u64 + a_dup,
        b_decisions: db.len() as u64 + b_dup,
        a_duplicates: a_dup,
        b_duplicates: b_dup,
        a_late: la.len() as u64,
        b_late: lb.len() as u64,
        ..Default::default()
    };
    for (txn, bytes_a) in &da {
        let Some(bytes_b) = db.get(txn) else {
            if b_late_txns.contains(txn) {
                c.a_only_b_late += 1;
            } else {
                c.a_only_unexplained += 1;
            }
            continue;
        };
        c.both_decided += 1;
        if bytes_a == bytes_b {
            c.equal += 1;
            continue;
        }
        c.mismatched += 1;
        let card = serde_json::from_slice::<Value>(bytes_a)
            .ok()
            .and_then(|v| v.get("card_id").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let reason = mismatch_reason(bytes_a, bytes_b, diverged.contains(card.as_str()));
        *c.mismatch_reasons.entry(reason).or_default() += 1;
        if c.examples.len() < MAX_EXAMPLES {
            c.examples.push(format!(
                "{txn}:\n  sluice: {}\n  flink:  {}",
                String::from_utf8_lossy(bytes_a),
                String::from_utf8_lossy(bytes_b)
            ));
        }
    }
    for txn in db.keys().filter(|t| !da.contains_key(*t)) {
        if a_late_txns.contains(txn) {
            c.b_only_a_late += 1;
        } else {
            c.b_only_unexplained += 1;
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"{"txn_id":"t","card_id":"c","decision":"APPROVE","score":15,"reasons":["NEW_DEVICE"],"features":{"txn_count_60s":1,"device_seen_before":false},"source_offset":3}"#;

    #[test]
    fn names_the_differing_features() {
        let b = A.replace(
            r#""device_seen_before":false"#,
            r#""device_seen_before":true"#,
        );
        assert_eq!(
            mismatch_reason(A.as_bytes(), b.as_bytes(), false),
            "features differ: device_seen_before"
        );
        assert_eq!(
            mismatch_reason(A.as_bytes(), b.as_bytes(), true),
            "card had a late-routing difference; features differ: device_seen_before"
        );
    }

    #[test]
    fn equal_features_with_another_score_is_a_bug() {
        let b = A.replace(r#""score":15"#, r#""score":16"#);
        assert_eq!(
            mismatch_reason(A.as_bytes(), b.as_bytes(), false),
            SCORING_BUG
        );
        let b = A.replace(r#""source_offset":3"#, r#""source_offset":4"#);
        assert_eq!(
            mismatch_reason(A.as_bytes(), b.as_bytes(), false),
            "other fields differ: source_offset"
        );
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex_decode("7b7d"), Some(b"{}".to_vec()));
        assert_eq!(hex_decode("7"), None);
        assert_eq!(hex_decode("zz"), None);
    }
}
