//! Reading what the job committed and handing it to the oracle's comparison; the model-switch rule.

use std::collections::BTreeMap;

use rdkafka::Message;
use sluice_api::JobConfig;
use sluice_oracle::{Committed, Expected};

use super::read::{partition_count, read_topic};
use super::{READ_TIMEOUT, VerifyError, VerifyReport};
use crate::kafka_connection::KafkaConnection;

/// Every committed record of `topic`, parsed.
fn committed(conn: &KafkaConnection, topic: &str) -> Result<Vec<serde_json::Value>, VerifyError> {
    let parts = partition_count(conn, topic)?;
    Ok(read_topic(conn, topic, parts, READ_TIMEOUT)?
        .iter()
        .flatten()
        .map(|m| Committed::parse(m.payload().unwrap_or_default()))
        .collect())
}

pub(super) fn compare(
    conn: &KafkaConnection,
    job: &JobConfig,
    expected: &Expected,
    report: &mut VerifyReport,
) -> Result<(), VerifyError> {
    let t = &job.topics;
    let got = Committed {
        decisions: committed(conn, &t.decisions)?,
        alerts: committed(conn, &t.alerts)?,
        dlq: committed(conn, &t.dlq)?,
        late: committed(conn, &t.late)?,
    };
    let f = sluice_oracle::compare(expected, &got);
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
    let mut versions: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    for (partition, offset, version) in f.versions {
        versions
            .entry(partition)
            .or_default()
            .push((offset, version));
    }
    check_model_switches(versions, report);
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
