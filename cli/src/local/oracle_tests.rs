//! A local run's committed output equals the independent oracle run per partition over the generated records.

use std::collections::{BTreeMap, BTreeSet};

use sluice_core::event::{InputEvent, SourceTopic, decode};
use sluice_core::model::ScoringModel;
use sluice_core::oracle::oracle_decisions;
use sluice_core::processor::{DecisionRecord, LateRecord, OwnedInputRecord};

use super::tests::{JobSpec, committed_output, mk_job, quiet};
use crate::local::run;
use sluice_generator::Generator;
use sluice_worker::worker::job_params;

/// The generated stream as each partition's records in generator order, with offsets counted independently
/// of the local source.
fn partitioned_input(job: &crate::local::LocalJob) -> BTreeMap<i32, Vec<OwnedInputRecord>> {
    let mut next: BTreeMap<(i32, SourceTopic), i64> = BTreeMap::new();
    let mut by_partition: BTreeMap<i32, Vec<OwnedInputRecord>> = BTreeMap::new();
    for r in Generator::new(job.generator.clone()) {
        let offset = next.entry((r.partition, r.topic)).or_insert(0);
        by_partition
            .entry(r.partition)
            .or_default()
            .push(OwnedInputRecord {
                topic: r.topic,
                partition: r.partition,
                offset: *offset,
                key: Some(r.key),
                value: Some(r.value),
            });
        *offset += 1;
    }
    by_partition
}

/// Groups JSON lines by their `source_partition` field, keeping order.
fn by_partition(lines: &[String]) -> BTreeMap<i64, Vec<String>> {
    let mut out: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let p = v["source_partition"].as_i64().unwrap();
        out.entry(p).or_default().push(line.clone());
    }
    out
}

fn json_lines<T: serde::Serialize>(items: &[T]) -> Vec<String> {
    items
        .iter()
        .map(|i| serde_json::to_string(i).unwrap())
        .collect()
}

#[test]
fn local_run_equals_the_oracle_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let job = mk_job(dir.path(), &JobSpec::default());
    let summary = run(&job, &quiet()).unwrap();
    let [decisions, alerts, dlq, late] = committed_output(&dir.path().join("out"));

    let params = job_params(&job.job).unwrap();
    let model = ScoringModel::default_v1();
    let mut expected: [BTreeMap<i64, Vec<String>>; 4] = Default::default();
    let mut valid_auths = 0u64;
    for (p, records) in partitioned_input(&job) {
        let oracle = oracle_decisions(&params, &model, &records);
        let p = i64::from(p);
        expected[0].insert(p, json_lines(&oracle.decisions));
        expected[1].insert(p, json_lines(&oracle.alerts));
        expected[2].insert(p, json_lines(&oracle.dlq));
        expected[3].insert(p, json_lines(&oracle.late));
        valid_auths += records
            .iter()
            .filter(|r| r.topic == SourceTopic::Authorizations)
            .filter(|r| decode(r.topic, r.key.as_deref(), r.value.as_deref()).is_ok())
            .count() as u64;
    }
    for (kind, (actual, expected)) in ["decisions", "alerts", "dlq", "late"].iter().zip(
        [&decisions, &alerts, &dlq, &late]
            .into_iter()
            .zip(&expected),
    ) {
        let mut actual = by_partition(actual);
        // Partitions without any output of this kind appear only on the oracle side.
        for p in expected.keys() {
            actual.entry(*p).or_default();
        }
        assert_eq!(&actual, expected, "{kind} differ from the oracle");
    }
    assert!(
        !dlq.is_empty() && !late.is_empty() && !alerts.is_empty(),
        "the test input must exercise every kind"
    );

    // One decision per valid, non-late authorization; no txn_id twice.
    let late_auths: BTreeSet<String> = late
        .iter()
        .map(|l| serde_json::from_str::<LateRecord>(l).unwrap())
        .filter(|l| l.source_topic == SourceTopic::Authorizations)
        .map(
            |l| match decode(l.source_topic, l.key.as_deref(), l.value.as_deref()).unwrap() {
                InputEvent::Authorization(a) => a.txn_id,
                other => panic!("late authorization decoded as {other:?}"),
            },
        )
        .collect();
    let decided: Vec<String> = decisions
        .iter()
        .map(|d| serde_json::from_str::<DecisionRecord>(d).unwrap().txn_id)
        .collect();
    let unique: BTreeSet<&String> = decided.iter().collect();
    assert_eq!(unique.len(), decided.len(), "a txn_id was decided twice");
    assert_eq!(decided.len() as u64, valid_auths - late_auths.len() as u64);
    let generated: BTreeSet<String> = Generator::new(job.generator.clone())
        .filter_map(|r| r.txn_id)
        .collect();
    assert!(
        unique
            .iter()
            .all(|t| generated.contains(*t) && !late_auths.contains(*t))
    );

    assert_eq!(summary.decisions, decisions.len() as u64);
    assert_eq!(
        summary.approve + summary.review + summary.decline,
        summary.decisions
    );
    assert_eq!(summary.alerts, alerts.len() as u64);
    assert_eq!(
        (summary.dlq, summary.late),
        (dlq.len() as u64, late.len() as u64)
    );
    assert_eq!(
        summary.records,
        Generator::new(job.generator.clone()).count() as u64
    );
    assert_eq!(summary.processed, summary.records);
    assert!(summary.commits > 5, "{summary:?}");
}
