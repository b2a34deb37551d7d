//! One partition's expected outputs (docs/semantics.md §4–8), over the records in processing order.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::features::features;
use crate::input::{Auth, Event, Record, validate};
use crate::model::{Model, Verdict};

/// The job parameters of §4–5, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub out_of_orderness_ms: i64,
    pub allowed_lateness_ms: i64,
    pub state_ttl_ms: i64,
}

/// Expected records: decisions and alerts by txn_id and model version (one entry per model the run was
/// given), DLQ and late records in processing order. Values are the records' JSON, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    pub decisions: BTreeMap<String, BTreeMap<String, Value>>,
    pub alerts: BTreeMap<String, BTreeMap<String, Value>>,
    pub dlq: Vec<Value>,
    pub late: Vec<Value>,
}

/// One on-time authorization's outputs under one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub version: String,
    pub decision: Value,
    /// The alert, for a REVIEW or DECLINE decision.
    pub alert: Option<Value>,
}

/// Where the oracle puts what it expects: every record ([`Expected`]), or what a long run can afford
/// ([`crate::Ledger`]).
pub trait Sink {
    /// An on-time authorization at `at` (partition, offset): its outputs under each model, in model order.
    fn scored(&mut self, txn_id: &str, at: (i32, i64), outputs: Vec<Scored>);
    fn rejected(&mut self, dlq: Value);
    fn late(&mut self, late: Value);
}

impl Sink for Expected {
    fn scored(&mut self, txn_id: &str, _at: (i32, i64), outputs: Vec<Scored>) {
        for s in outputs {
            if let Some(alert) = s.alert {
                self.alerts
                    .entry(txn_id.to_string())
                    .or_default()
                    .insert(s.version.clone(), alert);
            }
            self.decisions
                .entry(txn_id.to_string())
                .or_default()
                .insert(s.version, s.decision);
        }
    }

    fn rejected(&mut self, dlq: Value) {
        self.dlq.push(dlq);
    }

    fn late(&mut self, late: Value) {
        self.late.push(late);
    }
}

/// Runs `records` (one partition, processing order) under every model, adding to `out`.
pub fn run_partition<'a>(
    params: Params,
    models: &[Model],
    records: impl IntoIterator<Item = &'a Record>,
    out: &mut impl Sink,
) {
    let mut max_seen: Option<i64> = None;
    let mut history: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for rec in records {
        let event = match validate(rec) {
            Ok(event) => event,
            Err(kind) => {
                out.rejected(dlq_record(rec, kind));
                continue;
            }
        };
        let t = event.event_time_ms();
        let watermark = max_seen.map(|m| m.saturating_sub(params.out_of_orderness_ms));
        if let Some(w) = watermark
            && t < w.saturating_sub(params.allowed_lateness_ms)
        {
            out.late(late_record(rec, &event, w));
            continue;
        }
        let card = history.entry(event.card_id().to_string()).or_default();
        let newest = card.iter().map(Event::event_time_ms).max();
        if let (Some(w), Some(newest)) = (watermark, newest)
            && newest < w.saturating_sub(params.state_ttl_ms)
        {
            card.clear();
        }
        if let Event::Auth(a) = &event {
            let f = features(card, a);
            let outputs = models
                .iter()
                .map(|model| {
                    let verdict = model.score(&f);
                    Scored {
                        version: model.version.clone(),
                        decision: decision_record(rec, a, &verdict, f.to_json(), &model.version),
                        alert: verdict
                            .alerts()
                            .then(|| alert_record(rec, a, &verdict, &model.version)),
                    }
                })
                .collect();
            out.scored(&a.txn_id, (rec.partition, rec.offset), outputs);
        }
        card.push(event);
        max_seen = Some(max_seen.map_or(t, |m| m.max(t)));
    }
}

fn hex(bytes: Option<&[u8]>) -> Value {
    match bytes {
        None => Value::Null,
        Some(b) => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
    }
}

fn decision_record(rec: &Record, a: &Auth, v: &Verdict, features: Value, version: &str) -> Value {
    json!({
        "txn_id": a.txn_id, "card_id": a.card_id, "decision": v.decision, "score": v.score,
        "reasons": v.reasons, "features": features, "model_version": version,
        "source_partition": rec.partition, "source_offset": rec.offset, "event_time_ms": a.event_time_ms,
    })
}

fn alert_record(rec: &Record, a: &Auth, v: &Verdict, version: &str) -> Value {
    json!({
        "txn_id": a.txn_id, "card_id": a.card_id, "account_id": a.account_id,
        "merchant_id": a.merchant_id, "amount_minor": a.amount_minor, "currency": a.currency,
        "country": a.country, "decision": v.decision, "score": v.score, "reasons": v.reasons,
        "model_version": version, "source_partition": rec.partition, "source_offset": rec.offset,
        "event_time_ms": a.event_time_ms,
    })
}

/// The most bytes of a key or a value a DLQ record keeps (§8).
const DLQ_KEEP_BYTES: usize = 65_536;

/// The DLQ record; `reason` is human text outside the contract, so it is left out here and
/// [`crate::compare`] only requires it to be a non-empty string. A key or value longer than
/// [`DLQ_KEEP_BYTES`] is kept cut to that length, with `<field>_len` and `<field>_sha256` of the whole.
fn dlq_record(rec: &Record, kind: &str) -> Value {
    let mut out = json!({
        "source_topic": rec.topic.name(), "source_partition": rec.partition,
        "source_offset": rec.offset, "error_kind": kind,
    });
    for (name, bytes) in [("key", rec.key.as_deref()), ("value", rec.value.as_deref())] {
        let kept = bytes.map(|b| b.get(..DLQ_KEEP_BYTES).unwrap_or(b));
        out[format!("{name}_hex")] = hex(kept);
        if let Some(whole) = bytes.filter(|b| b.len() > DLQ_KEEP_BYTES) {
            out[format!("{name}_len")] = json!(whole.len());
            let digest = Sha256::digest(whole);
            out[format!("{name}_sha256")] = hex(Some(&digest[..]));
        }
    }
    out
}

fn late_record(rec: &Record, event: &Event, watermark: i64) -> Value {
    json!({
        "source_topic": rec.topic.name(), "source_partition": rec.partition,
        "source_offset": rec.offset, "card_id": event.card_id(),
        "event_time_ms": event.event_time_ms(), "watermark_ms": watermark,
        "key_hex": hex(rec.key.as_deref()), "value_hex": hex(rec.value.as_deref()),
    })
}
