//! Comparing what the job committed with what the oracle expects: decisions by txn_id and model
//! version, alerts for the decisions actually made, DLQ and late records as multisets of bytes.

use std::collections::BTreeMap;

use rdkafka::Message;
use sluice_crds::JobConfig;

use super::read::{partition_count, read_topic};
use super::{Expected, READ_TIMEOUT, VerifyError, VerifyReport};

pub(super) fn compare(
    bootstrap: &str,
    job: &JobConfig,
    expected: Expected,
    report: &mut VerifyReport,
) -> Result<(), VerifyError> {
    let Expected {
        decisions: want,
        alerts: want_alerts,
        dlq: want_dlq,
        late: want_late,
    } = expected;
    report.expected_dlq = want_dlq.len() as u64;
    report.expected_late = want_late.len() as u64;
    report.expected_decisions = want.len() as u64;
    let parts = partition_count(bootstrap, &job.topics.decisions)?;
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    // txn_id → the model version of its (first) committed decision: which alert, if any, it implies.
    let mut decided: BTreeMap<String, String> = BTreeMap::new();
    // Source partition → (source offset, model version) of its decisions.
    let mut versions: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    for msg in read_topic(bootstrap, &job.topics.decisions, parts, READ_TIMEOUT)?
        .iter()
        .flatten()
    {
        report.actual_decisions += 1;
        let bytes = msg.payload().unwrap_or_default();
        let fields = DecisionFields::parse(bytes);
        let txn_id = fields.txn_id;
        versions
            .entry(fields.source_partition)
            .or_default()
            .push((fields.source_offset, fields.model_version.clone()));
        let count = seen.entry(txn_id.clone()).or_default();
        *count += 1;
        if *count > 1 {
            report.duplicate_decisions += 1;
            report.example(format!("duplicate decision for {txn_id}"));
            continue;
        }
        decided.insert(txn_id.clone(), fields.model_version.clone());
        let Some(by_version) = want.get(&txn_id) else {
            report.unexpected_decisions += 1;
            report.example(format!("unexpected decision for {txn_id:?}"));
            continue;
        };
        match by_version.get(&fields.model_version) {
            None => {
                report.mismatched_decisions += 1;
                report.example(format!(
                    "decision for {txn_id} was scored by model {:?}, which verification was not given",
                    fields.model_version
                ));
            }
            Some(w) if w.as_slice() != bytes => {
                report.mismatched_decisions += 1;
                report.example(format!(
                    "decision for {txn_id} differs from the oracle:\n  got:  {}\n  want: {}",
                    String::from_utf8_lossy(bytes),
                    String::from_utf8_lossy(w)
                ));
            }
            Some(_) => {}
        }
    }
    for txn_id in want.keys() {
        if !seen.contains_key(txn_id) {
            report.missing_decisions += 1;
            report.example(format!("no decision for {txn_id}"));
        }
    }
    check_model_switches(versions, report);
    let (actual, mismatched) = compare_set(bootstrap, &job.topics.dlq, want_dlq)?;
    (report.actual_dlq, report.mismatched_dlq) = (actual, mismatched);
    let (actual, mismatched) = compare_set(bootstrap, &job.topics.late, want_late)?;
    (report.actual_late, report.mismatched_late) = (actual, mismatched);
    let want_alerts = implied_alerts(&decided, want_alerts);
    report.expected_alerts = want_alerts.len() as u64;
    let (actual, mismatched) = compare_set(bootstrap, &job.topics.alerts, want_alerts)?;
    (report.actual_alerts, report.mismatched_alerts) = (actual, mismatched);
    Ok(())
}

/// The oracle's alert for each committed decision that should raise one: the alert follows the
/// decision actually made (its model version), so a decision under a model whose verdict is APPROVE
/// implies no alert even if another model would have raised one.
fn implied_alerts(
    decided: &BTreeMap<String, String>,
    mut alerts: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
) -> Vec<Vec<u8>> {
    decided
        .iter()
        .filter_map(|(txn_id, version)| alerts.get_mut(txn_id)?.remove(version))
        .collect()
}

/// The fields of a decision verification keys on (missing ones read as empty / -1, which then mismatch).
struct DecisionFields {
    txn_id: String,
    model_version: String,
    source_partition: i64,
    source_offset: i64,
}

impl DecisionFields {
    fn parse(bytes: &[u8]) -> DecisionFields {
        let v = serde_json::from_slice::<serde_json::Value>(bytes).unwrap_or_default();
        let text = |k: &str| {
            v.get(k)
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let int = |k: &str| v.get(k).and_then(serde_json::Value::as_i64).unwrap_or(-1);
        DecisionFields {
            txn_id: text("txn_id"),
            model_version: text("model_version"),
            source_partition: int("source_partition"),
            source_offset: int("source_offset"),
        }
    }
}

/// Each model version must cover one contiguous range of offsets per partition: records the switches, and
/// counts partitions that come back to a version they left.
fn check_model_switches(versions: BTreeMap<i64, Vec<(i64, String)>>, report: &mut VerifyReport) {
    for (partition, mut seq) in versions {
        seq.sort_unstable();
        let mut left: Vec<&str> = Vec::new();
        let mut bad = false;
        for pair in seq.windows(2) {
            let [(_, a), (offset, b)] = pair else {
                continue;
            };
            if a == b {
                continue;
            }
            report.model_switches.push(format!(
                "partition {partition}: {a} → {b} at offset {offset}"
            ));
            left.push(a);
            bad |= left.contains(&b.as_str());
        }
        if bad {
            report.model_switch_errors += 1;
            report.example(format!(
                "partition {partition} returns to a model version it had left: {}",
                report.model_switches.join("; ")
            ));
        }
    }
}

/// Reads `topic` and compares its payloads with `want` as multisets: (records read, records not matched
/// one-to-one, counting both surplus and missing).
fn compare_set(
    bootstrap: &str,
    topic: &str,
    mut want: Vec<Vec<u8>>,
) -> Result<(u64, u64), VerifyError> {
    let parts = partition_count(bootstrap, topic)?;
    let mut got: Vec<Vec<u8>> = read_topic(bootstrap, topic, parts, READ_TIMEOUT)?
        .iter()
        .flatten()
        .map(|m| m.payload().unwrap_or_default().to_vec())
        .collect();
    let actual = got.len() as u64;
    want.sort_unstable();
    got.sort_unstable();
    let (mut i, mut j, mut unmatched) = (0, 0, 0u64);
    while i < want.len() && j < got.len() {
        match want[i].cmp(&got[j]) {
            std::cmp::Ordering::Equal => (i, j) = (i + 1, j + 1),
            std::cmp::Ordering::Less => (i, unmatched) = (i + 1, unmatched + 1),
            std::cmp::Ordering::Greater => (j, unmatched) = (j + 1, unmatched + 1),
        }
    }
    unmatched += (want.len() - i + got.len() - j) as u64;
    Ok((actual, unmatched))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_follow_the_model_of_the_decision_made() {
        let decided = BTreeMap::from([
            ("t1".to_string(), "v1".to_string()),
            ("t2".to_string(), "v2".to_string()),
            ("t3".to_string(), "v1".to_string()),
        ]);
        let alert = |s: &str| s.as_bytes().to_vec();
        let alerts = BTreeMap::from([
            (
                "t1".to_string(),
                BTreeMap::from([
                    ("v1".to_string(), alert("t1@v1")),
                    ("v2".to_string(), alert("t1@v2")),
                ]),
            ),
            // v1 alerts on t2, but t2 was decided by v2 (APPROVE): no alert expected.
            (
                "t2".to_string(),
                BTreeMap::from([("v1".to_string(), alert("t2@v1"))]),
            ),
            // An alert for a transaction with no committed decision is not expected either.
            (
                "t9".to_string(),
                BTreeMap::from([("v1".to_string(), alert("t9@v1"))]),
            ),
        ]);
        assert_eq!(implied_alerts(&decided, alerts), vec![alert("t1@v1")]);
    }

    fn seq(items: &[(i64, &str)]) -> Vec<(i64, String)> {
        items.iter().map(|(o, v)| (*o, v.to_string())).collect()
    }

    #[test]
    fn one_switch_per_partition_is_recorded_and_a_return_is_an_error() {
        let mut report = VerifyReport {
            processed_records: 3,
            input_records: 3,
            ..VerifyReport::default()
        };
        let mut versions = BTreeMap::new();
        // Arrival order is not offset order: sorting comes first.
        versions.insert(0, seq(&[(7, "v2"), (3, "v1"), (5, "v1"), (9, "v2")]));
        versions.insert(1, seq(&[(1, "v1"), (2, "v2"), (4, "v3")]));
        check_model_switches(versions, &mut report);
        assert_eq!(
            report.model_switches,
            vec![
                "partition 0: v1 → v2 at offset 7",
                "partition 1: v1 → v2 at offset 2",
                "partition 1: v2 → v3 at offset 4"
            ]
        );
        assert_eq!(report.model_switch_errors, 0);
        assert!(report.ok());

        let mut versions = BTreeMap::new();
        versions.insert(2, seq(&[(1, "v1"), (2, "v2"), (3, "v1")]));
        check_model_switches(versions, &mut report);
        assert_eq!(report.model_switch_errors, 1);
        assert_eq!(
            report.failures(),
            vec!["1 partitions returning to an earlier model"]
        );
    }
}
