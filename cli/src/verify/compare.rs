//! Reading what the job committed and handing it to the oracle's comparison; the model-switch rule.

use std::collections::BTreeMap;

use rdkafka::Message;
use serde_json::Value;
use sluice_api::JobConfig;
use sluice_oracle::{Check, Committed, Ledger};

use super::read::{for_each_record, partition_count, partition_ids};
use super::{READ_TIMEOUT, VerifyError, VerifyReport};
use crate::kafka_connection::KafkaConnection;

/// Hands every committed record of `topic`, parsed, to `each`.
fn for_each_committed(
    conn: &KafkaConnection,
    topic: &str,
    mut each: impl FnMut(Value),
) -> Result<(), VerifyError> {
    let parts = partition_ids(partition_count(conn, topic)?);
    for_each_record(conn, topic, &parts, READ_TIMEOUT, |m| {
        each(Committed::parse(m.payload().unwrap_or_default()));
    })?;
    Ok(())
}

/// Streams the committed outputs through the oracle's check: decisions first, as the alerts due
/// depend on them.
pub(super) fn compare(
    conn: &KafkaConnection,
    job: &JobConfig,
    ledger: Ledger,
    report: &mut VerifyReport,
) -> Result<(), VerifyError> {
    let t = &job.topics;
    let mut check = Check::new(ledger);
    for_each_committed(conn, &t.decisions, |d| check.decision(&d))?;
    for_each_committed(conn, &t.alerts, |a| check.alert(&a))?;
    for_each_committed(conn, &t.dlq, |d| check.dlq(d))?;
    for_each_committed(conn, &t.late, |l| check.late(l))?;
    let f = check.finish();
    report.expected_decisions = f.expected_decisions;
    report.actual_decisions = f.actual_decisions;
    report.duplicate_decisions = f.duplicate_decisions;
    report.missing_decisions = f.missing_decisions;
    report.unexpected_decisions = f.unexpected_decisions;
    report.mismatched_decisions = f.mismatched_decisions;
    report.expected_alerts = f.expected_alerts;
    report.actual_alerts = f.actual_alerts;
    report.mismatched_alerts = f.mismatched_alerts;
    report.expected_dlq = f.expected_dlq;
    report.actual_dlq = f.actual_dlq;
    report.mismatched_dlq = f.mismatched_dlq;
    report.expected_late = f.expected_late;
    report.actual_late = f.actual_late;
    report.mismatched_late = f.mismatched_late;
    for e in f.examples {
        report.example(e);
    }
    let mut versions: BTreeMap<i32, Vec<(i64, u16)>> = BTreeMap::new();
    for (partition, offset, version) in f.versions {
        versions
            .entry(partition)
            .or_default()
            .push((offset, version));
    }
    check_model_switches(versions, &f.version_names, report);
    Ok(())
}

/// Each model version must cover one contiguous range of offsets per partition: records the switches, and
/// counts partitions that come back to a version they left.
fn check_model_switches(
    versions: BTreeMap<i32, Vec<(i64, u16)>>,
    names: &[String],
    report: &mut VerifyReport,
) {
    let name = |v: &u16| names.get(usize::from(*v)).map_or("?", String::as_str);
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
            let (a, b) = (name(a), name(b));
            report.model_switches.push(format!(
                "partition {partition}: {a} → {b} at offset {offset}"
            ));
            left.push(a);
            bad |= left.contains(&b);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["v1", "v2", "v3"].map(String::from).to_vec()
    }

    fn seq(items: &[(i64, &str)]) -> Vec<(i64, u16)> {
        let names = names();
        let index = |v: &str| names.iter().position(|n| n == v).unwrap() as u16;
        items.iter().map(|(o, v)| (*o, index(v))).collect()
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
        check_model_switches(versions, &names(), &mut report);
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
        check_model_switches(versions, &names(), &mut report);
        assert_eq!(report.model_switch_errors, 1);
        assert_eq!(
            report.failures(),
            vec!["1 partitions returning to an earlier model"]
        );
    }
}
