//! `sluice verify`: the end-to-end exactly-once check an auditor would run.
//!
//! It reads, as a read_committed consumer, the inputs, the progress log and the outputs; rebuilds each
//! partition's processing order from the progress log (checking it covers every input record exactly once,
//! in offset order); runs the independent oracle over that order; and compares: every authorization has
//! exactly one decision (or one late record), byte-identical to the oracle's, and the DLQ holds exactly the
//! malformed inputs.

pub mod read;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::Message;
use rdkafka::message::OwnedMessage;
use serde::Serialize;
use sluice_core::event::SourceTopic;
use sluice_core::model::ScoringModel;
use sluice_core::oracle::oracle_decisions;
use sluice_core::processor::{JobParams, Output, OwnedInputRecord};
use sluice_core::progress::ProgressRecord;
use sluice_crds::JobConfig;

use crate::kafka::KafkaOpError;
use crate::kafka::clients::{input_topics, progress_topic};
use read::{partition_count, read_topic};

const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// Why verification could not run (as opposed to finding problems, which are in the report).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Kafka(#[from] KafkaOpError),
    #[error("progress record {topic}/{partition}@{offset} is corrupt: {reason}")]
    Corrupt {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
    #[error("encoding oracle output: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What verification found. `ok()` is true only when nothing is duplicated, lost or different.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub input_records: u64,
    pub processed_records: u64,
    /// Input records not covered by the committed progress (consumer lag at verification time).
    pub unprocessed_records: u64,
    pub expected_decisions: u64,
    pub actual_decisions: u64,
    pub duplicate_decisions: u64,
    pub missing_decisions: u64,
    pub unexpected_decisions: u64,
    pub mismatched_decisions: u64,
    pub expected_dlq: u64,
    pub actual_dlq: u64,
    pub expected_late: u64,
    pub actual_late: u64,
    /// DLQ and late records whose bytes differ from the oracle's (set comparison).
    pub mismatched_dlq: u64,
    pub mismatched_late: u64,
    /// Problems in the progress log itself (gaps, overlaps, reordering).
    pub progress_errors: Vec<String>,
    /// The first few concrete differences, for a human.
    pub examples: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.duplicate_decisions == 0
            && self.missing_decisions == 0
            && self.unexpected_decisions == 0
            && self.mismatched_decisions == 0
            && self.expected_dlq == self.actual_dlq
            && self.expected_late == self.actual_late
            && self.mismatched_dlq == 0
            && self.mismatched_late == 0
            && self.progress_errors.is_empty()
    }

    fn example(&mut self, s: String) {
        if self.examples.len() < 10 {
            self.examples.push(s);
        }
    }
}

/// Verifies the job's committed output against the oracle.
pub fn verify(
    bootstrap: &str,
    job: &JobConfig,
    params: &JobParams,
    model: &ScoringModel,
) -> Result<VerifyReport, VerifyError> {
    let mut report = VerifyReport::default();
    let input_names = input_topics(&job.topics);
    let partitions = partition_count(bootstrap, input_names[0])?;
    let inputs: Vec<Vec<Vec<OwnedMessage>>> = input_names
        .iter()
        .map(|t| read_topic(bootstrap, t, partitions, READ_TIMEOUT))
        .collect::<Result<_, _>>()?;
    let progress_name = progress_topic(job);
    let progress_parts = partition_count(bootstrap, &progress_name)?;
    let progress = read_topic(bootstrap, &progress_name, progress_parts, READ_TIMEOUT)?;

    let mut expected: Vec<Output> = Vec::new();
    for p in 0..partitions {
        let per_topic: Vec<&Vec<OwnedMessage>> = inputs.iter().filter_map(|t| t.get(p)).collect();
        report.input_records += per_topic.iter().map(|v| v.len() as u64).sum::<u64>();
        let records = match progress.get(p) {
            Some(msgs) => decode_progress(&progress_name, msgs)?,
            None => Vec::new(),
        };
        let order = processing_order(
            &per_topic,
            &records,
            i32::try_from(p).unwrap_or(0),
            &mut report,
        );
        report.processed_records += order.len() as u64;
        let result = oracle_decisions(params, model, &order);
        expected.extend(result.decisions.into_iter().map(Output::Decision));
        expected.extend(result.dlq.into_iter().map(Output::Dlq));
        expected.extend(result.late.into_iter().map(Output::Late));
    }
    report.unprocessed_records = report
        .input_records
        .saturating_sub(report.processed_records);
    compare(bootstrap, job, &expected, &mut report)?;
    Ok(report)
}

fn decode_progress(topic: &str, msgs: &[OwnedMessage]) -> Result<Vec<ProgressRecord>, VerifyError> {
    msgs.iter()
        .map(|m| {
            ProgressRecord::decode(m.payload().unwrap_or_default()).map_err(|e| {
                VerifyError::Corrupt {
                    topic: topic.to_string(),
                    partition: m.partition(),
                    offset: m.offset(),
                    reason: e.to_string(),
                }
            })
        })
        .collect()
}

/// Rebuilds the processing order of one partition from its progress records, checking that they consume
/// every topic's records in offset order, each exactly once, with no gaps.
fn processing_order(
    per_topic: &[&Vec<OwnedMessage>],
    records: &[ProgressRecord],
    partition: i32,
    report: &mut VerifyReport,
) -> Vec<OwnedInputRecord> {
    let mut cursor = [0usize; 3];
    let mut order = Vec::new();
    let mut expected_start: Option<[i64; 3]> = None;
    for rec in records {
        if let Some(start) = expected_start
            && start != rec.start_offsets
        {
            report.progress_errors.push(format!(
                "partition {partition} txn {}: starts at {:?}, previous ended at {start:?}",
                rec.txn_seq, rec.start_offsets
            ));
        }
        expected_start = Some(rec.end_offsets);
        for &(topic, len) in &rec.runs {
            let i = usize::from(topic.index());
            for _ in 0..len {
                let Some(msg) = per_topic.get(i).and_then(|msgs| msgs.get(cursor[i])) else {
                    report.progress_errors.push(format!(
                        "partition {partition} txn {}: consumes more {} records than exist",
                        rec.txn_seq,
                        topic.name()
                    ));
                    return order;
                };
                cursor[i] += 1;
                order.push(OwnedInputRecord {
                    topic,
                    partition,
                    offset: msg.offset(),
                    key: msg.key().map(<[u8]>::to_vec),
                    value: msg.payload().map(<[u8]>::to_vec),
                });
            }
        }
        for t in SourceTopic::ALL {
            let i = usize::from(t.index());
            let next_offset = per_topic
                .get(i)
                .and_then(|m| m.get(cursor[i]))
                .map(Message::offset);
            let end = rec.end_offsets.get(i).copied().unwrap_or(0);
            // Every record below the recorded end offset must have been consumed by now.
            if next_offset.is_some_and(|o| o < end) {
                report.progress_errors.push(format!(
                    "partition {partition} txn {}: {} offset {:?} below end {end} was skipped",
                    rec.txn_seq,
                    t.name(),
                    next_offset
                ));
            }
        }
    }
    order
}

fn compare(
    bootstrap: &str,
    job: &JobConfig,
    expected: &[Output],
    report: &mut VerifyReport,
) -> Result<(), VerifyError> {
    let mut want: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut want_dlq = Vec::new();
    let mut want_late = Vec::new();
    for out in expected {
        match out {
            Output::Decision(d) => {
                want.insert(d.txn_id.clone(), out.to_json_bytes()?);
            }
            Output::Dlq(_) => want_dlq.push(out.to_json_bytes()?),
            Output::Late(_) => want_late.push(out.to_json_bytes()?),
            Output::Alert(_) => {}
        }
    }
    report.expected_dlq = want_dlq.len() as u64;
    report.expected_late = want_late.len() as u64;
    report.expected_decisions = want.len() as u64;
    let parts = partition_count(bootstrap, &job.topics.decisions)?;
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for msg in read_topic(bootstrap, &job.topics.decisions, parts, READ_TIMEOUT)?
        .iter()
        .flatten()
    {
        report.actual_decisions += 1;
        let bytes = msg.payload().unwrap_or_default();
        let txn_id = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.get("txn_id").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_default();
        let count = seen.entry(txn_id.clone()).or_default();
        *count += 1;
        if *count > 1 {
            report.duplicate_decisions += 1;
            report.example(format!("duplicate decision for {txn_id}"));
            continue;
        }
        match want.get(&txn_id) {
            None => {
                report.unexpected_decisions += 1;
                report.example(format!("unexpected decision for {txn_id:?}"));
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
    let (actual, mismatched) = compare_set(bootstrap, &job.topics.dlq, want_dlq)?;
    (report.actual_dlq, report.mismatched_dlq) = (actual, mismatched);
    let (actual, mismatched) = compare_set(bootstrap, &job.topics.late, want_late)?;
    (report.actual_late, report.mismatched_late) = (actual, mismatched);
    Ok(())
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
