//! `sluice verify`: the end-to-end exactly-once check an auditor would run.
//!
//! It reads, as a read_committed consumer, the inputs, the progress log and the outputs, and hands them to
//! the independent oracle (`sluice-oracle`, written from docs/semantics.md and sharing no code with the
//! worker): the oracle decodes the progress log and rebuilds each partition's processing order from it
//! (checking that it is a valid interleaving: every input record once, in offset order, transactions
//! contiguous), computes the expected decisions, alerts, DLQ and late records, and compares the committed
//! ones field by field. Every authorization must have exactly one decision (or one late record) equal to
//! the oracle's, every REVIEW/DECLINE decision exactly one alert, and the DLQ exactly the malformed inputs.
//!
//! A job upgraded to a new scoring model mid-stream is verified with every model it ran ([`verify_models`]):
//! each decision is compared with the oracle's decision under the model version it names, and each model
//! version must cover one contiguous offset range per partition — the switch happens at one offset.

#[cfg(test)]
mod agreement_tests;
mod compare;
pub mod read;

use std::time::Duration;

use rdkafka::Message;
use serde::Serialize;
use sluice_api::JobConfig;
use sluice_oracle::{
    Ledger, Model, Params, Record, Topic, decode_progress, interleave, run_partition,
};

use crate::kafka_connection::KafkaConnection;
use compare::compare;
use read::{for_each_record, partition_count, partition_ids};
use sluice_worker::kafka::KafkaOpError;
use sluice_worker::kafka::clients::{input_topics, progress_topic};

/// How long a read may go without a record or a partition's end before verification gives up.
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
    #[error("scoring model {what}: {reason}")]
    Model { what: String, reason: String },
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
    /// (duplicates, losses, mismatches), the figures the reliability tables and the soak report: losses
    /// are authorizations without a decision plus input records never processed; mismatches are decisions,
    /// alerts, DLQ and late records that differ from the oracle or have no input.
    pub fn figures(&self) -> (u64, u64, u64) {
        (
            self.duplicate_decisions,
            self.missing_decisions + self.unprocessed_records,
            self.mismatched_decisions
                + self.unexpected_decisions
                + self.mismatched_dlq
                + self.mismatched_late
                + self.mismatched_alerts,
        )
    }

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

/// Verifies the job's committed output against the oracle, with the job's own scoring model (its
/// `modelPath`, or the built-in model the worker falls back to).
pub fn verify(
    conn: impl Into<KafkaConnection>,
    job: &JobConfig,
) -> Result<VerifyReport, VerifyError> {
    verify_models(conn, job, &[job_model_yaml(job)?])
}

/// Verifies output produced under the scoring models `models` (YAML texts, parsed by the oracle; several
/// after a model upgrade mid-stream): each decision must equal the oracle's under the model version it
/// carries.
pub fn verify_models(
    conn: impl Into<KafkaConnection>,
    job: &JobConfig,
    models: &[String],
) -> Result<VerifyReport, VerifyError> {
    let conn = conn.into();
    let models = oracle_models(models)?;
    let params = oracle_params(job);
    let mut report = VerifyReport::default();
    let input_names = input_topics(&job.topics);
    let partitions = partition_count(&conn, input_names[0])?;
    for (topic, t) in input_names.iter().zip(Topic::ALL) {
        require_topic(&conn, topic, t.name())?;
    }
    require_topic(&conn, &job.topics.decisions, "decisions")?;
    let progress_name = progress_topic(job);
    let progress_parts = partition_count(&conn, &progress_name)?;
    // One input partition at a time: its records and the oracle's per-card history are dropped before
    // the next, and what is expected of it is kept as fingerprints.
    let mut ledger = Ledger::default();
    for (p, partition) in partition_ids(partitions).into_iter().enumerate() {
        let mut records: [Vec<Record>; 3] = Default::default();
        for (name, topic) in input_names.iter().zip(Topic::ALL) {
            records[topic.index()] = read_records(&conn, name, topic, partition)?;
        }
        report.input_records += records.iter().map(|r| r.len() as u64).sum::<u64>();
        let log = if p < progress_parts {
            read_log(&conn, &progress_name, partition)?
        } else {
            Vec::new()
        };
        let [a, b, c] = &records;
        let (order, problems) = interleave(partition, [a, b, c], &log);
        report.progress_errors.extend(problems);
        report.processed_records += order.len() as u64;
        run_partition(params, &models, order.iter().copied(), &mut ledger);
    }
    report.unprocessed_records = report
        .input_records
        .saturating_sub(report.processed_records);
    compare(&conn, job, ledger, &mut report)?;
    Ok(report)
}

/// The YAML of the job's model: its `modelPath`, or the built-in model the worker falls back to.
pub fn job_model_yaml(job: &JobConfig) -> Result<String, VerifyError> {
    match &job.model_path {
        Some(path) => std::fs::read_to_string(path).map_err(|e| VerifyError::Model {
            what: path.clone(),
            reason: e.to_string(),
        }),
        None => Ok(sluice_core::model::FRAUD_V1_YAML.to_string()),
    }
}

fn oracle_models(texts: &[String]) -> Result<Vec<Model>, VerifyError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Model::from_yaml(text).map_err(|e| VerifyError::Model {
                what: format!("number {}", i + 1),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// The event-time parameters, straight from the job config.
fn oracle_params(job: &JobConfig) -> Params {
    let ms = |m: sluice_api::Millis| i64::try_from(m.as_millis()).unwrap_or(i64::MAX);
    Params {
        out_of_orderness_ms: ms(job.watermark.out_of_orderness),
        allowed_lateness_ms: ms(job.watermark.allowed_lateness),
        state_ttl_ms: ms(job.state_ttl),
    }
}

/// One partition of an input topic, as the oracle's records.
fn read_records(
    conn: &KafkaConnection,
    name: &str,
    topic: Topic,
    partition: i32,
) -> Result<Vec<Record>, VerifyError> {
    let mut out = Vec::new();
    for_each_record(conn, name, &[partition], READ_TIMEOUT, |m| {
        out.push(Record {
            topic,
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
        });
    })?;
    Ok(out)
}

/// One partition of the progress log, decoded; a record that does not decode stops verification.
fn read_log(
    conn: &KafkaConnection,
    topic: &str,
    partition: i32,
) -> Result<Vec<sluice_oracle::Progress>, VerifyError> {
    let mut log = Vec::new();
    let mut corrupt = None;
    for_each_record(
        conn,
        topic,
        &[partition],
        READ_TIMEOUT,
        |m| match decode_progress(m.payload().unwrap_or_default()) {
            Ok(p) => log.push(p),
            Err(reason) => {
                corrupt.get_or_insert(VerifyError::Corrupt {
                    topic: topic.to_string(),
                    partition: m.partition(),
                    offset: m.offset(),
                    reason,
                });
            }
        },
    )?;
    match corrupt {
        Some(e) => Err(e),
        None => Ok(log),
    }
}

/// Fails when `topic` does not exist: reading it would find nothing and prove nothing.
fn require_topic(
    conn: &KafkaConnection,
    topic: &str,
    role: &'static str,
) -> Result<(), VerifyError> {
    if partition_count(conn, topic)? == 0 {
        return Err(VerifyError::MissingTopic {
            topic: topic.to_string(),
            role,
        });
    }
    Ok(())
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
