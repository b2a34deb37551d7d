//! `sluice verify`: the end-to-end exactly-once check an auditor would run.
//!
//! It reads, as a read_committed consumer, the inputs, the progress log and the outputs; rebuilds each
//! partition's processing order from the progress log (checking it covers every input record exactly once,
//! in offset order); runs the independent oracle over that order; and compares: every authorization has
//! exactly one decision (or one late record), byte-identical to the oracle's, every REVIEW/DECLINE decision
//! exactly one alert, and the DLQ holds exactly the malformed inputs.
//!
//! A job upgraded to a new scoring model mid-stream is verified with every model it ran ([`verify_models`]):
//! each decision is compared with the oracle's decision under the model version it names, and each model
//! version must cover one contiguous offset range per partition — the switch happens at one offset.

mod compare;
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
use compare::compare;
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
    #[error(
        "topic {topic} ({role}) does not exist on the cluster; check the job's `topics` section and the bootstrap address"
    )]
    MissingTopic { topic: String, role: &'static str },
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
    /// Alerts the oracle expects for the decisions on the decisions topic (one per REVIEW/DECLINE,
    /// under the model version that decision names), alerts committed, and alerts that differ
    /// (missing, duplicated or unexpected count too).
    pub expected_alerts: u64,
    pub actual_alerts: u64,
    pub mismatched_alerts: u64,
    /// Problems in the progress log itself (gaps, overlaps, reordering).
    pub progress_errors: Vec<String>,
    /// Where each partition's decisions change model version (`partition P: A → B at offset O`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub model_switches: Vec<String>,
    /// Partitions whose decisions return to a model version after leaving it (not one switch per version).
    pub model_switch_errors: u64,
    /// The first few concrete differences, for a human.
    pub examples: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.failures().is_empty()
    }

    /// Why the check failed, one line per violated rule (empty when it passed). Verifying nothing
    /// fails too: an empty or unprocessed input proves nothing about exactly-once.
    pub fn failures(&self) -> Vec<String> {
        let counts = [
            (self.duplicate_decisions, "duplicated decisions"),
            (self.missing_decisions, "authorizations without a decision"),
            (
                self.unexpected_decisions,
                "decisions without an authorization",
            ),
            (
                self.mismatched_decisions,
                "decisions that differ from the oracle's",
            ),
            (
                self.mismatched_dlq,
                "DLQ records that differ from the oracle's",
            ),
            (
                self.mismatched_late,
                "late records that differ from the oracle's",
            ),
            (
                self.mismatched_alerts,
                "alerts that differ from the oracle's",
            ),
            (self.unprocessed_records, "input records not yet processed"),
            (
                self.model_switch_errors,
                "partitions returning to an earlier model",
            ),
        ];
        let mut failures: Vec<String> = counts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        if self.expected_dlq != self.actual_dlq {
            failures.push(format!(
                "{} DLQ records, the oracle expects {}",
                self.actual_dlq, self.expected_dlq
            ));
        }
        if self.expected_late != self.actual_late {
            failures.push(format!(
                "{} late records, the oracle expects {}",
                self.actual_late, self.expected_late
            ));
        }
        if self.expected_alerts != self.actual_alerts {
            failures.push(format!(
                "{} alerts, the oracle expects {}",
                self.actual_alerts, self.expected_alerts
            ));
        }
        if !self.progress_errors.is_empty() {
            failures.push(format!(
                "{} progress log errors",
                self.progress_errors.len()
            ));
        }
        if self.processed_records == 0 {
            failures.push("no input record was processed: nothing was verified".to_string());
        }
        failures
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
    verify_models(bootstrap, job, params, std::slice::from_ref(model))
}

/// Verifies output produced under one or more scoring models (a model upgrade mid-stream): each decision
/// must equal the oracle's under the model version it carries.
pub fn verify_models(
    bootstrap: &str,
    job: &JobConfig,
    params: &JobParams,
    models: &[ScoringModel],
) -> Result<VerifyReport, VerifyError> {
    let mut report = VerifyReport::default();
    let input_names = input_topics(&job.topics);
    let partitions = partition_count(bootstrap, input_names[0])?;
    for (topic, role) in input_names
        .iter()
        .zip(SourceTopic::ALL.map(SourceTopic::name))
    {
        require_topic(bootstrap, topic, role)?;
    }
    require_topic(bootstrap, &job.topics.decisions, "decisions")?;
    let inputs: Vec<Vec<Vec<OwnedMessage>>> = input_names
        .iter()
        .map(|t| read_topic(bootstrap, t, partitions, READ_TIMEOUT))
        .collect::<Result<_, _>>()?;
    let progress_name = progress_topic(job);
    let progress_parts = partition_count(bootstrap, &progress_name)?;
    let progress = read_topic(bootstrap, &progress_name, progress_parts, READ_TIMEOUT)?;

    let mut expected = Expected::default();
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
        for (i, model) in models.iter().enumerate() {
            let result = oracle_decisions(params, model, &order);
            for d in result.decisions {
                let key = (d.txn_id.clone(), d.model_version.clone());
                by_version(&mut expected.decisions, key, Output::Decision(d))?;
            }
            for a in result.alerts {
                let key = (a.txn_id.clone(), a.model_version.clone());
                by_version(&mut expected.alerts, key, Output::Alert(a))?;
            }
            // DLQ and late records do not depend on the model: take them once.
            if i == 0 {
                for out in result.dlq.into_iter().map(Output::Dlq) {
                    expected.dlq.push(out.to_json_bytes()?);
                }
                for out in result.late.into_iter().map(Output::Late) {
                    expected.late.push(out.to_json_bytes()?);
                }
            }
        }
    }
    report.unprocessed_records = report
        .input_records
        .saturating_sub(report.processed_records);
    compare(bootstrap, job, expected, &mut report)?;
    Ok(report)
}

/// Records `out`'s bytes under its (txn_id, model version).
fn by_version(
    map: &mut BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    (txn_id, version): (String, String),
    out: Output,
) -> Result<(), VerifyError> {
    map.entry(txn_id)
        .or_default()
        .insert(version, out.to_json_bytes()?);
    Ok(())
}

/// Fails when `topic` does not exist: reading it would find nothing and prove nothing.
fn require_topic(bootstrap: &str, topic: &str, role: &'static str) -> Result<(), VerifyError> {
    if partition_count(bootstrap, topic)? == 0 {
        return Err(VerifyError::MissingTopic {
            topic: topic.to_string(),
            role,
        });
    }
    Ok(())
}

/// The oracle's outputs: decisions and alerts by txn_id and model version, DLQ and late records as
/// bytes.
#[derive(Default)]
struct Expected {
    decisions: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    alerts: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    dlq: Vec<Vec<u8>>,
    late: Vec<Vec<u8>>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_nothing_or_leaving_input_unprocessed_fails() {
        let empty = VerifyReport::default();
        assert_eq!(
            empty.failures(),
            vec!["no input record was processed: nothing was verified"]
        );
        let behind = VerifyReport {
            input_records: 10,
            processed_records: 7,
            unprocessed_records: 3,
            ..VerifyReport::default()
        };
        assert_eq!(behind.failures(), vec!["3 input records not yet processed"]);
        let done = VerifyReport {
            unprocessed_records: 0,
            ..behind
        };
        assert!(done.ok());
    }

    #[test]
    fn every_broken_rule_is_named() {
        let report = VerifyReport {
            input_records: 5,
            processed_records: 5,
            duplicate_decisions: 1,
            expected_alerts: 2,
            actual_alerts: 2,
            mismatched_alerts: 2,
            expected_dlq: 2,
            actual_dlq: 1,
            progress_errors: vec!["gap".to_string()],
            ..VerifyReport::default()
        };
        assert_eq!(
            report.failures(),
            vec![
                "1 duplicated decisions",
                "2 alerts that differ from the oracle's",
                "1 DLQ records, the oracle expects 2",
                "1 progress log errors"
            ]
        );
    }
}
