//! Committed outputs against expected ones, record by record after parsing (docs/semantics.md §8–9):
//! key order and number formatting do not matter, every field's value does. [`Check`] takes committed
//! records one at a time, so a run of tens of millions of records is checked without holding them.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use crate::fingerprint::{Fingerprint, fingerprint, txn_key};
use crate::ledger::{Ledger, NOT_MADE, UNKNOWN_VERSION};
use crate::run::{Expected, Scored, Sink};

/// What the committed output topics held, each record's value parsed (unparseable bytes become a
/// string holding them, which matches nothing).
#[derive(Debug, Clone, Default)]
pub struct Committed {
    pub decisions: Vec<Value>,
    pub alerts: Vec<Value>,
    pub dlq: Vec<Value>,
    pub late: Vec<Value>,
}

impl Committed {
    pub fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap_or_else(|_| {
            Value::String(format!("unparseable: {}", String::from_utf8_lossy(bytes)))
        })
    }
}

/// Counts per output kind, and the first differences for a human.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Findings {
    pub expected_decisions: u64,
    pub actual_decisions: u64,
    pub duplicate_decisions: u64,
    pub missing_decisions: u64,
    pub unexpected_decisions: u64,
    pub mismatched_decisions: u64,
    pub expected_alerts: u64,
    pub actual_alerts: u64,
    pub mismatched_alerts: u64,
    pub expected_dlq: u64,
    pub actual_dlq: u64,
    pub mismatched_dlq: u64,
    pub expected_late: u64,
    pub actual_late: u64,
    pub mismatched_late: u64,
    /// (source partition, source offset, model version as an index into `version_names`) of every
    /// committed decision, for the model switch rule.
    #[serde(skip)]
    pub versions: Vec<(i32, i64, u16)>,
    #[serde(skip)]
    pub version_names: Vec<String>,
    pub examples: Vec<String>,
}

impl Findings {
    fn example(&mut self, text: String) {
        if self.examples.len() < 10 {
            self.examples.push(text);
        }
    }

    fn version_name(&mut self, version: &str) -> u16 {
        let i = match self.version_names.iter().position(|v| v == version) {
            Some(i) => i,
            None => {
                self.version_names.push(version.to_string());
                self.version_names.len() - 1
            }
        };
        u16::try_from(i).unwrap_or(u16::MAX)
    }
}

fn text<'v>(v: &'v Value, field: &str) -> &'v str {
    v.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn int(v: &Value, field: &str) -> i64 {
    v.get(field).and_then(Value::as_i64).unwrap_or(-1)
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// An alert expected (positive) or committed beyond expectation (negative), and whose it is.
#[derive(Clone, Copy)]
struct AlertDue {
    balance: i64,
    txn: Fingerprint,
    version: u16,
}

/// A streaming comparison: every committed decision first, then the alerts (which alert is due follows
/// the decision actually made), DLQ and late records in any order, then [`Check::finish`].
pub struct Check {
    ledger: Ledger,
    f: Findings,
    /// Committed decisions no authorization explains, to count their repeats as duplicates.
    strays: HashSet<Fingerprint>,
    /// Built when the first alert arrives (or at the end): the decisions are complete by then.
    alerts: Option<HashMap<Fingerprint, AlertDue>>,
    dlq: Vec<Value>,
    late: Vec<Value>,
}

impl Check {
    pub fn new(ledger: Ledger) -> Check {
        let f = Findings {
            expected_decisions: count(ledger.authorizations()),
            ..Findings::default()
        };
        Check {
            ledger,
            f,
            strays: HashSet::new(),
            alerts: None,
            dlq: Vec::new(),
            late: Vec::new(),
        }
    }

    pub fn decision(&mut self, d: &Value) {
        self.f.actual_decisions += 1;
        let (txn_id, version) = (text(d, "txn_id"), text(d, "model_version"));
        let source = i32::try_from(int(d, "source_partition")).unwrap_or(-1);
        let named = self.f.version_name(version);
        self.f
            .versions
            .push((source, int(d, "source_offset"), named));
        let key = txn_key(txn_id);
        let Some(due) = self.ledger.due.get(&key).copied() else {
            if self.strays.insert(key) {
                self.f.unexpected_decisions += 1;
                self.f.example(format!(
                    "decision for {txn_id:?}, which no input authorization explains"
                ));
            } else {
                self.f.duplicate_decisions += 1;
                self.f.example(format!("duplicate decision for {txn_id}"));
            }
            return;
        };
        if due.made != NOT_MADE {
            self.f.duplicate_decisions += 1;
            self.f.example(format!("duplicate decision for {txn_id}"));
            return;
        }
        let output = self.ledger.version_index(version).and_then(|v| {
            self.ledger
                .outputs_of(&due)
                .iter()
                .find(|o| o.version == v)
                .copied()
        });
        let made = output.map_or(UNKNOWN_VERSION, |o| o.version);
        if let Some(due) = self.ledger.due.get_mut(&key) {
            due.made = made;
        }
        match output {
            None => {
                self.f.mismatched_decisions += 1;
                self.f.example(format!(
                    "decision for {txn_id} names model {version:?}, which was not given"
                ));
            }
            Some(o) if o.decision != fingerprint(d) => {
                self.f.mismatched_decisions += 1;
                let want = self.want(&key, &due, o.version, false);
                self.f.example(format!(
                    "decision for {txn_id}:\n  got:  {d}\n  want: {want}"
                ));
            }
            Some(_) => {}
        }
    }

    /// The oracle's record for an example: whole when it was kept, else where it comes from.
    fn want(
        &self,
        txn: &Fingerprint,
        due: &crate::ledger::Due,
        version: u16,
        alert: bool,
    ) -> String {
        match self.ledger.detailed(txn, version, alert) {
            Some(v) => v.to_string(),
            None => format!(
                "the oracle's record for the authorization at partition {} offset {} under {}",
                due.partition,
                due.offset,
                self.ledger
                    .versions
                    .get(usize::from(version))
                    .map_or("?", String::as_str)
            ),
        }
    }

    /// Ends the decisions: counts the authorizations without one and works out which alerts are due.
    fn close_decisions(&mut self) -> &mut HashMap<Fingerprint, AlertDue> {
        if self.alerts.is_none() {
            let mut missing: Vec<(i32, i64, Fingerprint)> = Vec::new();
            let mut due_alerts: HashMap<Fingerprint, AlertDue> = HashMap::new();
            for (txn, due) in &self.ledger.due {
                if due.made == NOT_MADE {
                    missing.push((due.partition, due.offset, *txn));
                    continue;
                }
                let made = self
                    .ledger
                    .outputs_of(due)
                    .iter()
                    .find(|o| o.version == due.made);
                if let Some(alert) = made.and_then(|o| o.alert) {
                    let entry = due_alerts.entry(alert).or_insert(AlertDue {
                        balance: 0,
                        txn: *txn,
                        version: due.made,
                    });
                    entry.balance += 1;
                }
            }
            self.f.missing_decisions = count(missing.len());
            self.f.expected_alerts = due_alerts.values().map(|a| a.balance.unsigned_abs()).sum();
            missing.sort_unstable();
            for (partition, offset, txn) in missing.into_iter().take(10) {
                let name = self.ledger.detail.get(&txn).and_then(|s| s.first());
                let what = name.map_or(String::new(), |s| {
                    format!(" {}", text(&s.decision, "txn_id"))
                });
                self.f.example(format!(
                    "no decision for the authorization{what} at partition {partition} offset {offset}"
                ));
            }
            self.alerts = Some(due_alerts);
        }
        self.alerts.get_or_insert_with(HashMap::new)
    }

    pub fn alert(&mut self, a: &Value) {
        self.f.actual_alerts += 1;
        let alerts = self.close_decisions();
        let entry = alerts.entry(fingerprint(a)).or_insert(AlertDue {
            balance: 0,
            txn: [0; 16],
            version: UNKNOWN_VERSION,
        });
        entry.balance -= 1;
        if entry.balance < 0 {
            self.f.mismatched_alerts += 1;
            self.f.example(format!("alert unexpected or repeated: {a}"));
        }
    }

    pub fn dlq(&mut self, d: Value) {
        self.dlq.push(d);
    }

    pub fn late(&mut self, l: Value) {
        self.late.push(l);
    }

    pub fn finish(mut self) -> Findings {
        self.close_decisions();
        let mut missing_alerts: Vec<AlertDue> = self
            .alerts
            .iter()
            .flatten()
            .map(|(_, a)| *a)
            .filter(|a| a.balance > 0)
            .collect();
        // In input order, as the missing decisions are: the examples must not follow hash order.
        missing_alerts
            .sort_by_key(|a| self.ledger.due.get(&a.txn).map(|d| (d.partition, d.offset)));
        for a in missing_alerts {
            self.f.mismatched_alerts += a.balance.unsigned_abs();
            if let Some(due) = self.ledger.due.get(&a.txn).copied() {
                let want = self.want(&a.txn, &due, a.version, true);
                self.f.example(format!("alert missing: {want}"));
            }
        }
        self.check_dlq();
        let f = &mut self.f;
        (f.expected_late, f.actual_late) = (count(self.ledger.late.len()), count(self.late.len()));
        f.mismatched_late = multiset_difference(&self.ledger.late, &self.late, "late record", f);
        self.f
    }

    /// `reason` is human text: required, not compared.
    fn check_dlq(&mut self) {
        for d in &mut self.dlq {
            let reason = d.as_object_mut().and_then(|o| o.remove("reason"));
            if reason
                .as_ref()
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                self.f.mismatched_dlq += 1;
                self.f.example(format!("DLQ record without a reason: {d}"));
            }
        }
        let f = &mut self.f;
        (f.expected_dlq, f.actual_dlq) = (count(self.ledger.dlq.len()), count(self.dlq.len()));
        f.mismatched_dlq += multiset_difference(&self.ledger.dlq, &self.dlq, "DLQ record", f);
    }
}

/// Compares `committed` with `expected` (both whole, as tests hold them).
pub fn compare(expected: &Expected, committed: &Committed) -> Findings {
    let mut ledger = Ledger::default();
    for (txn_id, by_version) in &expected.decisions {
        let outputs: Vec<Scored> = by_version
            .iter()
            .map(|(version, decision)| Scored {
                version: version.clone(),
                decision: decision.clone(),
                alert: expected
                    .alerts
                    .get(txn_id)
                    .and_then(|a| a.get(version))
                    .cloned(),
            })
            .collect();
        let at = outputs.first().map_or((-1, -1), |s| {
            let partition = int(&s.decision, "source_partition");
            (
                i32::try_from(partition).unwrap_or(-1),
                int(&s.decision, "source_offset"),
            )
        });
        ledger.scored(txn_id, at, outputs);
    }
    expected.dlq.iter().for_each(|d| ledger.rejected(d.clone()));
    expected.late.iter().for_each(|l| ledger.late(l.clone()));
    let mut check = Check::new(ledger);
    committed.decisions.iter().for_each(|d| check.decision(d));
    committed.alerts.iter().for_each(|a| check.alert(a));
    committed.dlq.iter().for_each(|d| check.dlq(d.clone()));
    committed.late.iter().for_each(|l| check.late(l.clone()));
    check.finish()
}

/// Records in one list and not the other, counting repeats (a duplicate is a difference).
fn multiset_difference(want: &[Value], got: &[Value], what: &str, f: &mut Findings) -> u64 {
    let mut balance: BTreeMap<Fingerprint, (i64, &Value)> = BTreeMap::new();
    for v in want {
        balance.entry(fingerprint(v)).or_insert((0, v)).0 += 1;
    }
    for v in got {
        balance.entry(fingerprint(v)).or_insert((0, v)).0 -= 1;
    }
    let mut differences = 0u64;
    for (n, record) in balance.values().filter(|(n, _)| *n != 0) {
        differences += n.unsigned_abs();
        let side = if *n > 0 {
            "missing"
        } else {
            "unexpected or repeated"
        };
        f.example(format!("{what} {side}: {record}"));
    }
    differences
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn decision(txn: &str, offset: i64, version: &str, score: i64) -> Value {
        json!({"txn_id": txn, "model_version": version, "score": score,
               "source_partition": 0, "source_offset": offset})
    }

    fn alert(txn: &str, version: &str) -> Value {
        json!({"txn_id": txn, "model_version": version})
    }

    /// t1 (REVIEW under v1, an alert), t2 (APPROVE), t3 (REVIEW) at offsets 1–3 of partition 0.
    fn ledger(detail_limit: usize) -> Ledger {
        let mut ledger = Ledger::with_detail_limit(detail_limit);
        for (offset, txn, alerts) in [(1, "t1", true), (2, "t2", false), (3, "t3", true)] {
            let scored = Scored {
                version: "v1".into(),
                decision: decision(txn, offset, "v1", 10),
                alert: alerts.then(|| alert(txn, "v1")),
            };
            ledger.scored(txn, (0, offset), vec![scored]);
        }
        ledger
    }

    fn check(ledger: Ledger, decisions: &[Value], alerts: &[Value]) -> Findings {
        let mut check = Check::new(ledger);
        decisions.iter().for_each(|d| check.decision(d));
        alerts.iter().for_each(|a| check.alert(a));
        check.finish()
    }

    #[test]
    fn a_faithful_stream_passes_whatever_the_field_order() {
        let reordered: Value = serde_json::from_str(
            r#"{"source_offset":1,"source_partition":0,"score":10,"model_version":"v1","txn_id":"t1"}"#,
        )
        .unwrap();
        let decisions = [
            reordered,
            decision("t3", 3, "v1", 10),
            decision("t2", 2, "v1", 10),
        ];
        let f = check(
            ledger(0),
            &decisions,
            &[alert("t3", "v1"), alert("t1", "v1")],
        );
        assert_eq!(
            (
                f.expected_decisions,
                f.actual_decisions,
                f.expected_alerts,
                f.actual_alerts
            ),
            (3, 3, 2, 2)
        );
        assert!(f.examples.is_empty(), "{:?}", f.examples);
    }

    #[test]
    fn every_difference_is_counted_and_shown_with_or_without_the_whole_record() {
        for detail_limit in [0, 10] {
            let decisions = [
                decision("t1", 1, "v1", 99),
                decision("t1", 1, "v1", 10),
                decision("t9", 9, "v1", 10),
                decision("t9", 9, "v1", 10),
            ];
            let alerts = [alert("t2", "v1")];
            let f = check(ledger(detail_limit), &decisions, &alerts);
            assert_eq!(f.mismatched_decisions, 1, "{f:?}");
            assert_eq!(
                f.duplicate_decisions, 2,
                "t1 twice, and t9 (unexplained) twice"
            );
            assert_eq!(f.unexpected_decisions, 1);
            assert_eq!(f.missing_decisions, 2, "t2 and t3");
            // t1's alert is due (its decision was made) and missing; t2's alert is not due.
            assert_eq!((f.expected_alerts, f.mismatched_alerts), (1, 2), "{f:?}");
            let shown = f.examples.join("\n");
            let want = match detail_limit {
                0 => "the oracle's record for the authorization at partition 0 offset 1 under v1",
                _ => r#"want: {"model_version":"v1","score":10"#,
            };
            assert!(shown.contains(want), "{shown}");
            let missing = match detail_limit {
                0 => "no decision for the authorization at partition 0 offset 2",
                _ => "no decision for the authorization t2 at partition 0 offset 2",
            };
            assert!(shown.contains(missing), "{shown}");
        }
    }

    #[test]
    fn a_decision_under_a_model_not_given_is_a_mismatch_and_owes_no_alert() {
        let decisions = [
            decision("t1", 1, "v7", 10),
            decision("t2", 2, "v1", 10),
            decision("t3", 3, "v1", 10),
        ];
        let f = check(ledger(10), &decisions, &[alert("t3", "v1")]);
        assert_eq!((f.mismatched_decisions, f.missing_decisions), (1, 0));
        assert_eq!((f.expected_alerts, f.mismatched_alerts), (1, 0));
        assert_eq!(f.version_names, vec!["v7", "v1"]);
        assert_eq!(f.versions, vec![(0, 1, 0), (0, 2, 1), (0, 3, 1)]);
    }
}
