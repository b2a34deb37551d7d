//! The DLQ contract under structure-aware mutation: every input the decoder rejects becomes exactly one
//! DLQ record carrying its raw key and value, its position and a named reason; every input it accepts
//! becomes none, and an accepted authorization gets exactly one decision or late record. Inputs run up to
//! 1 MiB. `peek_event_time_ms` never panics on any of them and reads the event time of unmutated events.
//!
//! Cases: 48 by default; `SLUICE_DLQ_CONTRACT_CASES=N` for a long run (each case is a batch of up to 64
//! inputs; the test prints how many inputs it checked).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::event::{AccountStatus, DecodeError, InputEvent, decode, peek_event_time_ms};
use crate::model::ScoringModel;
use crate::testkit::{T0, mk_account, mk_auth, mk_telemetry, run_processor};

const MIB: usize = 1 << 20;

/// Inputs of passing batches (shrinking re-runs failing ones, which then do not count).
static INPUTS_CHECKED: AtomicU64 = AtomicU64::new(0);

/// One structure-aware change to an event's JSON (or its key).
#[derive(Debug, Clone)]
enum Mutation {
    RemoveField(usize),
    WrongType(usize, u8),
    HugeString(usize, usize, char),
    UnknownField,
    DuplicateField(usize),
    Truncate(usize),
    ReplaceWithBytes(Vec<u8>),
    DeepNesting(usize),
    OddEventTime(u8),
    KeyOtherCard,
    NoKey,
    NullValue,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::RemoveField),
        (any::<usize>(), 0u8..6).prop_map(|(f, k)| Mutation::WrongType(f, k)),
        // Mostly small, sometimes up to 1 MiB: big inputs must not take a different path.
        (
            any::<usize>(),
            prop_oneof![9 => 0usize..300, 1 => 0usize..MIB],
            any::<char>()
        )
            .prop_map(|(f, n, c)| Mutation::HugeString(f, n, c)),
        Just(Mutation::UnknownField),
        any::<usize>().prop_map(Mutation::DuplicateField),
        any::<usize>().prop_map(Mutation::Truncate),
        prop_oneof![
            9 => proptest::collection::vec(any::<u8>(), 0..200),
            1 => proptest::collection::vec(any::<u8>(), MIB - 64..MIB),
        ]
        .prop_map(Mutation::ReplaceWithBytes),
        (1usize..5_000).prop_map(Mutation::DeepNesting),
        (0u8..5).prop_map(Mutation::OddEventTime),
        Just(Mutation::KeyOtherCard),
        Just(Mutation::NoKey),
        Just(Mutation::NullValue),
    ]
}

/// One input: which topic, which card, and the mutations applied (none: a valid event).
fn input() -> impl Strategy<Value = (u8, u8, Vec<Mutation>)> {
    (
        0u8..3,
        0u8..4,
        prop_oneof![1 => Just(vec![]), 3 => proptest::collection::vec(mutation(), 1..3)],
    )
}

fn event(topic: u8, card: u8, offset: i64) -> InputEvent {
    let card = format!("c{card}");
    let t = T0 + offset * 1_000;
    match topic {
        0 => InputEvent::Authorization(mk_auth(&card, &format!("t{offset}"), t)),
        1 => InputEvent::DeviceTelemetry(mk_telemetry(&card, "d1", offset % 2 == 0, t)),
        _ => InputEvent::AccountChange(mk_account(&card, AccountStatus::Active, "DE", t)),
    }
}

/// The input record `event` becomes after `mutations`.
fn mutated(event: &InputEvent, offset: i64, mutations: &[Mutation]) -> OwnedInputRecord {
    let mut key = Some(event.card_id().as_bytes().to_vec());
    let mut doc: Value =
        serde_json::from_slice(&event.to_json().unwrap_or_default()).unwrap_or(Value::Null);
    let mut raw: Option<Option<Vec<u8>>> = None;
    for m in mutations {
        let fields: Vec<String> = doc
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let pick = |i: usize| {
            fields
                .get(i % fields.len().max(1))
                .cloned()
                .unwrap_or_default()
        };
        let bytes = |doc: &Value| serde_json::to_vec(doc).unwrap_or_default();
        match m {
            Mutation::RemoveField(i) => {
                doc.as_object_mut().map(|o| o.remove(&pick(*i)));
            }
            Mutation::WrongType(i, kind) => {
                let v = [
                    json!(null),
                    json!(7),
                    json!("7"),
                    json!([1]),
                    json!({"a": 1}),
                    json!(1.5),
                ];
                doc[pick(*i)] = v[usize::from(*kind) % v.len()].clone();
            }
            Mutation::HugeString(i, n, c) => {
                doc[pick(*i)] = Value::String(c.to_string().repeat(*n))
            }
            Mutation::UnknownField => doc["surprise"] = json!(1),
            Mutation::DuplicateField(i) => {
                let text = bytes(&doc);
                let field = pick(*i);
                let dup = format!("{{\"{field}\":null,");
                let mut out = dup.into_bytes();
                out.extend_from_slice(text.get(1..).unwrap_or_default());
                raw = Some(Some(out));
            }
            Mutation::Truncate(at) => {
                let mut text = raw.clone().flatten().unwrap_or_else(|| bytes(&doc));
                text.truncate(at % text.len().max(1));
                raw = Some(Some(text));
            }
            Mutation::ReplaceWithBytes(b) => raw = Some(Some(b.clone())),
            Mutation::DeepNesting(depth) => {
                let mut text = "[".repeat(*depth).into_bytes();
                text.extend_from_slice("]".repeat(*depth).as_bytes());
                raw = Some(Some(text));
            }
            Mutation::OddEventTime(k) => {
                let v = [
                    json!(-1),
                    json!(u64::MAX),
                    json!(1.0e3),
                    json!("1700000000000"),
                    json!(i64::MIN),
                ];
                doc["event_time_ms"] = v[usize::from(*k) % v.len()].clone();
            }
            Mutation::KeyOtherCard => key = Some(b"someone-else".to_vec()),
            Mutation::NoKey => key = None,
            Mutation::NullValue => raw = Some(None),
        }
    }
    let value = raw.unwrap_or_else(|| Some(serde_json::to_vec(&doc).unwrap_or_default()));
    OwnedInputRecord {
        topic: event.topic(),
        partition: 0,
        offset,
        key,
        value,
    }
}

fn check_batch(batch: &[(u8, u8, Vec<Mutation>)]) -> Result<(), TestCaseError> {
    let records: Vec<OwnedInputRecord> = batch
        .iter()
        .zip(0..)
        .map(|((topic, card, mutations), offset)| {
            mutated(&event(*topic, *card, offset), offset, mutations)
        })
        .collect();
    let (out, _, _) = run_processor(JobParams::default(), &ScoringModel::default_v1(), &records);
    let mut dlq_by_offset: BTreeMap<i64, Vec<&DlqRecord>> = BTreeMap::new();
    // Per input offset: (decisions, late records).
    let mut answered: BTreeMap<i64, (u32, u32)> = BTreeMap::new();
    for o in &out {
        match o {
            Output::Dlq(d) => dlq_by_offset.entry(d.source_offset).or_default().push(d),
            Output::Decision(d) => answered.entry(d.source_offset).or_default().0 += 1,
            Output::Late(l) => answered.entry(l.source_offset).or_default().1 += 1,
            Output::Alert(_) => {}
        }
    }
    for ((rec, (_, _, mutations)), offset) in records.iter().zip(batch).zip(0i64..) {
        let decoded = decode(rec.topic, rec.key.as_deref(), rec.value.as_deref());
        let dlq = dlq_by_offset.remove(&offset).unwrap_or_default();
        match decoded {
            Err(err) => {
                prop_assert_eq!(
                    dlq.len(),
                    1,
                    "rejected input {} ({}): {:?}",
                    offset,
                    err,
                    mutations
                );
                let d = dlq[0];
                prop_assert_eq!(d.source_topic, rec.topic);
                prop_assert_eq!(d.source_partition, rec.partition);
                // Kept whole up to DLQ_KEEP_BYTES, else its first DLQ_KEEP_BYTES with the whole length.
                let cut = |raw: &Option<Vec<u8>>| {
                    raw.as_ref()
                        .map(|b| b.get(..DLQ_KEEP_BYTES).unwrap_or(b).to_vec())
                };
                let cut_len = |raw: &Option<Vec<u8>>| {
                    raw.as_ref()
                        .filter(|b| b.len() > DLQ_KEEP_BYTES)
                        .map(|b| b.len() as u64)
                };
                prop_assert_eq!(&d.key, &cut(&rec.key), "the raw key is kept");
                prop_assert_eq!(&d.value, &cut(&rec.value), "the raw value is kept");
                prop_assert_eq!(d.key_len, cut_len(&rec.key));
                prop_assert_eq!(d.value_len, cut_len(&rec.value));
                prop_assert!(
                    DecodeError::KINDS.contains(&d.error_kind.as_str()),
                    "{}",
                    d.error_kind
                );
                prop_assert!(!d.reason.is_empty());
                prop_assert_eq!(answered.get(&offset), None);
            }
            Ok(ev) => {
                prop_assert!(
                    dlq.is_empty(),
                    "accepted input {} went to the DLQ: {:?}",
                    offset,
                    dlq
                );
                // An authorization gets one decision or one late record; other events no decision,
                // and a late record when they are behind the watermark.
                let (decisions, late) = answered.get(&offset).copied().unwrap_or_default();
                if matches!(ev, InputEvent::Authorization(_)) {
                    prop_assert_eq!(decisions + late, 1, "authorization {}", offset);
                } else {
                    prop_assert_eq!(decisions, 0);
                    prop_assert!(late <= 1);
                }
                if mutations.is_empty() {
                    let value = rec.value.as_deref().unwrap_or_default();
                    prop_assert_eq!(peek_event_time_ms(value), Some(ev.event_time_ms()));
                }
            }
        }
        // Any answer is fine for mutated bytes (it only orders records); it must not panic.
        let _ = peek_event_time_ms(rec.value.as_deref().unwrap_or_default());
    }
    prop_assert!(
        dlq_by_offset.is_empty(),
        "DLQ records for no input: {:?}",
        dlq_by_offset
    );
    INPUTS_CHECKED.fetch_add(records.len() as u64, Ordering::Relaxed);
    Ok(())
}

fn cases() -> u32 {
    std::env::var("SLUICE_DLQ_CONTRACT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

#[test]
fn every_rejected_input_is_one_dlq_record_with_its_bytes_and_a_reason() {
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let batches = proptest::collection::vec(input(), 1..64);
    let result = runner.run(&batches, |batch| check_batch(&batch));
    eprintln!(
        "DLQ contract: {} inputs checked in {} cases",
        INPUTS_CHECKED.load(Ordering::Relaxed),
        cases()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn the_mutations_do_reject_what_they_should() {
    let auth = event(0, 1, 3);
    let rejected = |m: Mutation| {
        let rec = mutated(&auth, 3, &[m]);
        decode(rec.topic, rec.key.as_deref(), rec.value.as_deref()).is_err()
    };
    assert!(rejected(Mutation::UnknownField));
    assert!(rejected(Mutation::DeepNesting(4_000)));
    assert!(rejected(Mutation::NullValue));
    assert!(rejected(Mutation::KeyOtherCard));
    assert!(rejected(Mutation::OddEventTime(0)));
    assert!(rejected(Mutation::ReplaceWithBytes(vec![0xff; MIB - 1])));
    let valid = mutated(&auth, 3, &[]);
    assert!(decode(valid.topic, valid.key.as_deref(), valid.value.as_deref()).is_ok());
}
