//! Committed outputs against expected ones, record by record after parsing (docs/semantics.md §8–9):
//! key order and number formatting do not matter, every field's value does.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::run::Expected;

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
    /// (source partition, source offset, model version) of every committed decision, for the model
    /// switch rule.
    #[serde(skip)]
    pub versions: Vec<(i64, i64, String)>,
    pub examples: Vec<String>,
}

impl Findings {
    fn example(&mut self, text: String) {
        if self.examples.len() < 10 {
            self.examples.push(text);
        }
    }
}

fn text(v: &Value, field: &str) -> String {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn int(v: &Value, field: &str) -> i64 {
    v.get(field).and_then(Value::as_i64).unwrap_or(-1)
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Compares `committed` with `expected`.
pub fn compare(expected: &Expected, committed: &Committed) -> Findings {
    let mut f = Findings {
        expected_decisions: count(expected.decisions.len()),
        actual_decisions: count(committed.decisions.len()),
        ..Findings::default()
    };
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for d in &committed.decisions {
        let (txn_id, version) = (text(d, "txn_id"), text(d, "model_version"));
        f.versions.push((
            int(d, "source_partition"),
            int(d, "source_offset"),
            version.clone(),
        ));
        if seen.contains_key(&txn_id) {
            f.duplicate_decisions += 1;
            f.example(format!("duplicate decision for {txn_id}"));
            continue;
        }
        seen.insert(txn_id.clone(), version.clone());
        match expected.decisions.get(&txn_id).map(|by| by.get(&version)) {
            None => {
                f.unexpected_decisions += 1;
                f.example(format!(
                    "decision for {txn_id:?}, which no input authorization explains"
                ));
            }
            Some(None) => {
                f.mismatched_decisions += 1;
                f.example(format!(
                    "decision for {txn_id} names model {version:?}, which was not given"
                ));
            }
            Some(Some(want)) if want != d => {
                f.mismatched_decisions += 1;
                f.example(format!(
                    "decision for {txn_id}:\n  got:  {d}\n  want: {want}"
                ));
            }
            Some(Some(_)) => {}
        }
    }
    for txn_id in expected.decisions.keys().filter(|t| !seen.contains_key(*t)) {
        f.missing_decisions += 1;
        f.example(format!("no decision for {txn_id}"));
    }
    // Alerts follow the decision actually made: its model version decides whether one is due.
    let want_alerts: Vec<Value> = seen
        .iter()
        .filter_map(|(txn, version)| expected.alerts.get(txn)?.get(version).cloned())
        .collect();
    (f.expected_alerts, f.actual_alerts) =
        (count(want_alerts.len()), count(committed.alerts.len()));
    f.mismatched_alerts = multiset_difference(&want_alerts, &committed.alerts, "alert", &mut f);
    // `reason` is human text: required, not compared.
    let mut dlq = Vec::new();
    for d in &committed.dlq {
        let mut d = d.clone();
        let reason = d.as_object_mut().and_then(|o| o.remove("reason"));
        if reason
            .as_ref()
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            f.mismatched_dlq += 1;
            f.example(format!("DLQ record without a reason: {d}"));
        }
        dlq.push(d);
    }
    (f.expected_dlq, f.actual_dlq) = (count(expected.dlq.len()), count(dlq.len()));
    f.mismatched_dlq += multiset_difference(&expected.dlq, &dlq, "DLQ record", &mut f);
    (f.expected_late, f.actual_late) = (count(expected.late.len()), count(committed.late.len()));
    f.mismatched_late = multiset_difference(&expected.late, &committed.late, "late record", &mut f);
    f
}

/// Records in one list and not the other, counting repeats (a duplicate is a difference).
fn multiset_difference(want: &[Value], got: &[Value], what: &str, f: &mut Findings) -> u64 {
    // serde_json's maps are ordered by key, so equal records print equally.
    let canonical = |v: &Value| v.to_string();
    let mut balance: BTreeMap<String, i64> = BTreeMap::new();
    for v in want {
        *balance.entry(canonical(v)).or_default() += 1;
    }
    for v in got {
        *balance.entry(canonical(v)).or_default() -= 1;
    }
    let mut differences = 0u64;
    for (record, n) in balance.iter().filter(|(_, n)| **n != 0) {
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
