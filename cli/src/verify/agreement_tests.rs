//! The worker's processor and the independent oracle (`sluice-oracle`, written from docs/semantics.md)
//! agree, record by record after parsing, on random streams: several cards, out-of-order event times
//! (some late, some past the 45-day expiry), all three topics interleaved at random, and malformed
//! records of every kind. A disagreement means the worker and the contract differ.

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_core::event::SourceTopic;
use sluice_core::model::{FRAUD_V1_YAML, ScoringModel};
use sluice_core::processor::{JobParams, MemStore, Output, OwnedInputRecord, PartitionProcessor};
use sluice_oracle::{Expected, Model, Params, Record, Topic, run_partition};

const T0: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;

#[derive(Debug, Clone)]
struct Step {
    topic: u8,
    card: u8,
    advance_ms: i64,
    jitter_ms: i64,
    variant: u8,
    malformed: Option<u8>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0u8..3,
        0u8..4,
        // Whole seconds and the window widths themselves, so events land exactly on window edges.
        prop_oneof![
            6 => (0i64..30).prop_map(|s| s * 1_000),
            1 => Just(60_000i64),
            1 => Just(600_000i64),
            1 => Just(3_600_000i64),
            1 => (0i64..40).prop_map(|d| d * DAY),
            1 => Just(50 * DAY),
        ],
        prop_oneof![6 => Just(0i64), 3 => (0i64..10).prop_map(|s| s * 1_000), 1 => Just(3_600_000i64)],
        any::<u8>(),
        prop_oneof![9 => Just(None), 1 => (0u8..8).prop_map(Some)],
    )
        .prop_map(|(topic, card, advance_ms, jitter_ms, variant, malformed)| Step {
            topic,
            card,
            advance_ms,
            jitter_ms,
            variant,
            malformed,
        })
}

fn value(s: &Step, i: usize, t: i64) -> Value {
    let card = format!("card-{}", s.card);
    let v = usize::from(s.variant);
    let amount = [500, 2_000, 90_000, 300_000, 1][v % 5];
    let country = ["DE", "FR"][v % 2];
    let status = ["active", "blocked"][usize::from(v % 4 == 0)];
    match s.topic {
        0 => json!({
            "txn_id": format!("txn-{i}"), "card_id": card, "account_id": "acct-1",
            "merchant_id": format!("m{}", v % 5), "mcc": "5411",
            "amount_minor": amount,
            "currency": "EUR", "country": country,
            "device_id": format!("dev-{}", v % 3), "channel": "ecom", "event_time_ms": t,
        }),
        1 => {
            json!({"card_id": card, "device_id": format!("dev-{}", v % 3), "trusted": v % 2 == 0, "event_time_ms": t})
        }
        _ => json!({
            "card_id": card, "status": status,
            "home_country": country, "credit_limit_minor": 100_000, "event_time_ms": t,
        }),
    }
}

/// The raw key and value of step `i`, malformed as the step says.
fn raw(s: &Step, i: usize, t: i64) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let mut v = value(s, i, t);
    let key = Some(format!("card-{}", s.card).into_bytes());
    let bytes = |v: &Value| Some(v.to_string().into_bytes());
    match s.malformed {
        None => (key, bytes(&v)),
        Some(0) => (key, None),
        Some(1) => (key, Some(vec![b'{', 0xff, b'}'])),
        Some(2) => (key, Some(b"{\"card_id\":".to_vec())),
        Some(3) => {
            v["surprise"] = json!(true);
            (key, bytes(&v))
        }
        Some(4) => {
            v["event_time_ms"] = json!(1.5);
            (key, bytes(&v))
        }
        Some(5) => {
            v["card_id"] = json!("");
            (key, bytes(&v))
        }
        Some(6) => (Some(b"another-card".to_vec()), bytes(&v)),
        Some(_) => {
            let text = v.to_string();
            let dup = format!("{{\"card_id\":\"x\",{}", &text[1..]);
            (key, Some(dup.into_bytes()))
        }
    }
}

fn worker_outputs(records: &[OwnedInputRecord], params: JobParams) -> Vec<Output> {
    let mut store = MemStore::new();
    let mut p = PartitionProcessor::new(params, ScoringModel::default_v1(), 0);
    p.load(&mut store).unwrap();
    let mut out = Vec::new();
    for r in records {
        p.process(&mut store, r.as_input(), &mut out).unwrap();
    }
    out
}

fn parsed(o: &Output) -> Value {
    serde_json::from_slice(&o.to_json_bytes().unwrap()).unwrap()
}

fn check(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut clock = T0;
    let mut offsets = [0i64; 3];
    let mut records = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        clock += s.advance_ms;
        let t = clock - s.jitter_ms;
        let (key, value) = raw(s, i, t);
        let topic = SourceTopic::ALL[usize::from(s.topic)];
        let slot = usize::from(s.topic);
        records.push(OwnedInputRecord {
            topic,
            partition: 0,
            offset: offsets[slot],
            key,
            value,
        });
        offsets[slot] += 1;
    }
    let params = JobParams::default();
    let outputs = worker_outputs(&records, params);

    let oracle_records: Vec<Record> = records
        .iter()
        .map(|r| Record {
            topic: Topic::ALL[usize::from(r.topic.index())],
            partition: r.partition,
            offset: r.offset,
            key: r.key.clone(),
            value: r.value.clone(),
        })
        .collect();
    let oracle_params = Params {
        out_of_orderness_ms: params.out_of_orderness_ms,
        allowed_lateness_ms: params.allowed_lateness_ms,
        state_ttl_ms: params.state_ttl_ms,
    };
    let model = Model::from_yaml(FRAUD_V1_YAML).unwrap();
    let mut want = Expected::default();
    run_partition(
        oracle_params,
        std::slice::from_ref(&model),
        &oracle_records,
        &mut want,
    );

    let (mut decisions, mut alerts, mut dlq, mut late) = (0, 0, Vec::new(), Vec::new());
    for o in &outputs {
        let got = parsed(o);
        let txn = got["txn_id"].as_str().unwrap_or_default().to_string();
        match o {
            Output::Decision(_) => {
                decisions += 1;
                prop_assert_eq!(
                    Some(&got),
                    want.decisions.get(&txn).and_then(|m| m.get("fraud-v1"))
                );
            }
            Output::Alert(_) => {
                alerts += 1;
                prop_assert_eq!(
                    Some(&got),
                    want.alerts.get(&txn).and_then(|m| m.get("fraud-v1"))
                );
            }
            Output::Dlq(_) => {
                let mut d = got;
                let reason = d.as_object_mut().and_then(|m| m.remove("reason"));
                prop_assert!(reason.and_then(|r| r.as_str().map(str::len)).unwrap_or(0) > 0);
                dlq.push(d);
            }
            Output::Late(_) => late.push(got),
        }
    }
    prop_assert_eq!(decisions, want.decisions.len());
    prop_assert_eq!(alerts, want.alerts.len());
    prop_assert_eq!(dlq, want.dlq);
    prop_assert_eq!(late, want.late);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_worker_and_the_independent_oracle_agree(steps in proptest::collection::vec(step(), 1..160)) {
        check(&steps)?;
    }
}
