//! What the oracle expects, kept small enough for an hour-long run: per authorization its position and,
//! per model version, the fingerprints of its decision and alert — about 90 bytes where the records
//! themselves take over 2 KiB once parsed. The full records are kept for the first
//! [`DETAILED_AUTHORIZATIONS`] authorizations only, so a difference can still be shown field by field in the
//! runs tests make. DLQ and late records are rare and kept whole.

use std::collections::HashMap;

use serde_json::Value;

use crate::fingerprint::{Fingerprint, fingerprint, txn_key};
use crate::run::{Scored, Sink};

/// Authorizations whose expected records are kept whole, for examples of differences.
pub const DETAILED_AUTHORIZATIONS: usize = 50_000;

/// No committed decision yet.
pub(crate) const NOT_MADE: u16 = u16::MAX;
/// A committed decision under a model version the oracle was not given.
pub(crate) const UNKNOWN_VERSION: u16 = u16::MAX - 1;

/// One authorization the oracle expects outputs for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Due {
    pub partition: i32,
    pub offset: i64,
    /// Its outputs: `outputs[first..first + count]`.
    pub first: u32,
    pub count: u16,
    /// The model version (index into `versions`) of the decision committed for it, or [`NOT_MADE`] /
    /// [`UNKNOWN_VERSION`].
    pub made: u16,
}

/// One authorization's expected outputs under one model version.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub version: u16,
    pub decision: Fingerprint,
    pub alert: Option<Fingerprint>,
}

#[derive(Debug)]
pub struct Ledger {
    /// How many authorizations keep their records whole.
    detail_limit: usize,
    pub(crate) versions: Vec<String>,
    pub(crate) due: HashMap<Fingerprint, Due>,
    pub(crate) outputs: Vec<Output>,
    pub(crate) detail: HashMap<Fingerprint, Vec<Scored>>,
    pub(crate) dlq: Vec<Value>,
    pub(crate) late: Vec<Value>,
}

impl Default for Ledger {
    fn default() -> Ledger {
        Ledger::with_detail_limit(DETAILED_AUTHORIZATIONS)
    }
}

impl Ledger {
    /// A ledger keeping the whole records of the first `detail_limit` authorizations.
    pub fn with_detail_limit(detail_limit: usize) -> Ledger {
        Ledger {
            detail_limit,
            versions: Vec::new(),
            due: HashMap::new(),
            outputs: Vec::new(),
            detail: HashMap::new(),
            dlq: Vec::new(),
            late: Vec::new(),
        }
    }

    /// Authorizations expected to have a decision.
    pub fn authorizations(&self) -> usize {
        self.due.len()
    }

    pub(crate) fn version_index(&self, version: &str) -> Option<u16> {
        self.versions
            .iter()
            .position(|v| v == version)
            .and_then(|i| u16::try_from(i).ok())
    }

    fn intern(&mut self, version: &str) -> u16 {
        self.version_index(version).unwrap_or_else(|| {
            self.versions.push(version.to_string());
            u16::try_from(self.versions.len() - 1).unwrap_or(UNKNOWN_VERSION)
        })
    }

    pub(crate) fn outputs_of(&self, due: &Due) -> &[Output] {
        let first = due.first as usize;
        self.outputs
            .get(first..first + usize::from(due.count))
            .unwrap_or_default()
    }

    /// The expected record under `version` of `txn`, when it was kept whole.
    pub(crate) fn detailed(&self, txn: &Fingerprint, version: u16, alert: bool) -> Option<&Value> {
        let name = self.versions.get(usize::from(version))?;
        let scored = self.detail.get(txn)?.iter().find(|s| &s.version == name)?;
        if alert {
            scored.alert.as_ref()
        } else {
            Some(&scored.decision)
        }
    }
}

impl Sink for Ledger {
    fn scored(&mut self, txn_id: &str, (partition, offset): (i32, i64), outputs: Vec<Scored>) {
        let first = u32::try_from(self.outputs.len()).unwrap_or(u32::MAX);
        for s in &outputs {
            let version = self.intern(&s.version);
            self.outputs.push(Output {
                version,
                decision: fingerprint(&s.decision),
                alert: s.alert.as_ref().map(fingerprint),
            });
        }
        let key = txn_key(txn_id);
        let due = Due {
            partition,
            offset,
            first,
            count: u16::try_from(outputs.len()).unwrap_or(u16::MAX),
            made: NOT_MADE,
        };
        // An input repeating a txn_id replaces the earlier expectation, as the contract keys by txn_id.
        self.due.insert(key, due);
        if self.detail.len() < self.detail_limit || self.detail.contains_key(&key) {
            self.detail.insert(key, outputs);
        }
    }

    fn rejected(&mut self, dlq: Value) {
        self.dlq.push(dlq);
    }

    fn late(&mut self, late: Value) {
        self.late.push(late);
    }
}
