//! The oracle against hand-worked examples of docs/semantics.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use sluice_oracle::input::{Event, validate};
use sluice_oracle::{
    Committed, Expected, Model, Params, Progress, Record, Topic, compare, decode_progress,
    interleave, run_partition,
};

const T0: i64 = 1_700_000_000_000;
const PARAMS: Params = Params {
    out_of_orderness_ms: 5_000,
    allowed_lateness_ms: 2_000,
    state_ttl_ms: 45 * 86_400_000,
};

fn model() -> Model {
    Model::from_yaml(include_str!("../../core/models/fraud-v1.yaml")).unwrap()
}

fn rec(topic: Topic, offset: i64, key: Option<&str>, value: &str) -> Record {
    Record {
        topic,
        partition: 0,
        offset,
        key: key.map(|k| k.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
    }
}

fn auth_json(txn: &str, card: &str, merchant: &str, amount: i64, t: i64) -> Value {
    json!({"txn_id": txn, "card_id": card, "account_id": "a1", "merchant_id": merchant, "mcc": "5411",
           "amount_minor": amount, "currency": "EUR", "country": "DE", "device_id": "d1",
           "channel": "pos", "event_time_ms": t})
}

fn auth(offset: i64, txn: &str, merchant: &str, amount: i64, t: i64) -> Record {
    let v = auth_json(txn, "c1", merchant, amount, t).to_string();
    rec(Topic::Authorizations, offset, Some("c1"), &v)
}

fn kind(topic: Topic, key: Option<&str>, value: &str) -> Result<(), &'static str> {
    validate(&rec(topic, 0, key, value)).map(|_| ())
}

#[test]
fn validation_reports_the_first_broken_rule_in_contract_order() {
    let a = Topic::Authorizations;
    let good = auth_json("t1", "c1", "m1", 100, T0);
    assert_eq!(kind(a, Some("c1"), &good.to_string()), Ok(()));
    assert_eq!(
        kind(a, None, &good.to_string()),
        Ok(()),
        "a key is optional"
    );
    let mut r = rec(a, 0, None, "");
    r.value = None;
    assert_eq!(validate(&r).map(|_| ()), Err("missing_value"));
    let mut r = rec(a, 0, None, "");
    r.value = Some(vec![0xff, 0xfe]);
    assert_eq!(validate(&r).map(|_| ()), Err("invalid_utf8"));
    assert_eq!(kind(a, None, "{\"txn_id\":"), Err("invalid_json"));
    assert_eq!(kind(a, None, "[1,2]"), Err("not_an_object"));
    // An unknown key before a duplicate decides; a duplicate before a missing field decides.
    assert_eq!(
        kind(a, None, r#"{"zzz":1,"txn_id":"a","txn_id":"b"}"#),
        Err("unknown_field")
    );
    assert_eq!(
        kind(a, None, r#"{"txn_id":"a","txn_id":"b","zzz":1}"#),
        Err("duplicate_field")
    );
    let without = |f: &str| {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove(f);
        v.to_string()
    };
    assert_eq!(kind(a, None, &without("mcc")), Err("missing_field"));
    let with = |f: &str, x: Value| {
        let mut v = good.clone();
        v[f] = x;
        v.to_string()
    };
    assert_eq!(
        kind(a, None, &with("amount_minor", json!(5.0))),
        Err("wrong_type")
    );
    assert_eq!(
        kind(a, None, &with("amount_minor", json!(0))),
        Err("invalid_field")
    );
    assert_eq!(
        kind(a, None, &with("amount_minor", json!(u64::MAX))),
        Err("invalid_field")
    );
    assert_eq!(
        kind(a, None, &with("txn_id", json!("a\u{7}b"))),
        Err("invalid_field")
    );
    assert_eq!(
        kind(a, None, &with("txn_id", json!("x".repeat(65)))),
        Err("invalid_field")
    );
    assert_eq!(
        kind(a, None, &with("channel", json!("web"))),
        Err("invalid_field")
    );
    // Field order decides between two broken fields: mcc is checked before currency.
    let mut two = good.clone();
    two["mcc"] = json!(12);
    two["currency"] = json!("eur");
    assert_eq!(kind(a, None, &two.to_string()), Err("wrong_type"));
    assert_eq!(kind(a, Some("c2"), &good.to_string()), Err("key_mismatch"));
    let tel = r#"{"card_id":"c1","device_id":"d","trusted":"yes","event_time_ms":1}"#;
    assert_eq!(kind(Topic::DeviceTelemetry, None, tel), Err("wrong_type"));
    let acct = r#"{"card_id":"c1","status":"blocked","home_country":"FR","credit_limit_minor":0,"event_time_ms":1}"#;
    match validate(&rec(Topic::AccountChanges, 0, None, acct)).unwrap() {
        Event::Account {
            blocked,
            home_country,
            ..
        } => assert!(blocked && home_country == "FR"),
        other => panic!("{other:?}"),
    }
}

fn decisions(out: &Expected) -> Vec<Value> {
    let mut all: Vec<(i64, Value)> = out
        .decisions
        .values()
        .flat_map(|by| by.values())
        .map(|d| (d["source_offset"].as_i64().unwrap(), d.clone()))
        .collect();
    all.sort_by_key(|(o, _)| *o);
    all.into_iter().map(|(_, d)| d).collect()
}

#[test]
fn windows_are_half_open_and_the_thirty_day_average_excludes_today() {
    let day = 86_400_000;
    let records = vec![
        auth(0, "t0", "m1", 1_000, T0 - 2 * day),
        auth(1, "t1", "m1", 3_000, T0 - 60_000),
        auth(2, "t2", "m2", 5_000, T0 - 59_999),
        auth(3, "t3", "m3", 40_000, T0),
    ];
    let mut out = Expected::default();
    run_partition(PARAMS, &[model()], &records, &mut out);
    let last = &decisions(&out)[3];
    let f = &last["features"];
    // t1 is exactly 60 s old: outside the 60 s window, inside the hour.
    assert_eq!(f["txn_count_60s"], 2);
    assert_eq!(f["amount_sum_1h_minor"], 48_000);
    assert_eq!(f["distinct_merchants_10m"], 3);
    assert_eq!(f["ms_since_prev_txn"], 59_999);
    // Only t0 lies in the 30 whole days before today: 40,000 × 10,000 / 1,000.
    assert_eq!(f["amount_ratio_30d_bp"], 400_000);
    assert_eq!(f["device_seen_before"], true);
    // 59,999 ms since t2 is no rapid succession (< 10 s is); d1 is known but never vouched for.
    assert_eq!(
        last["reasons"],
        json!([
            "DISTINCT_MERCHANTS_10M",
            "UNTRUSTED_DEVICE",
            "AMOUNT_RATIO_30D"
        ])
    );
    assert_eq!(last["score"], 20 + 10 + 25);
    assert_eq!(last["decision"], "REVIEW");
}

#[test]
fn late_records_and_rejected_records_leave_state_alone() {
    let records = vec![
        auth(0, "t0", "m1", 100, T0),
        auth(1, "t1", "m1", 100, T0 - 7_001), // behind the watermark T0 − 5 s by more than 2 s: late
        rec(Topic::Authorizations, 2, Some("c1"), "not json"),
        auth(3, "t3", "m1", 100, T0 - 7_000), // exactly at the cutoff: on time
    ];
    let mut out = Expected::default();
    run_partition(PARAMS, &[model()], &records, &mut out);
    assert_eq!(out.late.len(), 1);
    assert_eq!(out.late[0]["watermark_ms"], T0 - 5_000);
    assert_eq!(out.late[0]["source_offset"], 1);
    assert_eq!(out.dlq.len(), 1);
    assert_eq!(out.dlq[0]["error_kind"], "invalid_json");
    assert_eq!(out.dlq[0]["value_hex"], "6e6f74206a736f6e");
    let d = decisions(&out);
    assert_eq!(d.len(), 2);
    // t3 sees only t0 (t1 was late): a previous transaction 7 s later in event time.
    assert_eq!(d[1]["features"]["ms_since_prev_txn"], -7_000);
}

#[test]
fn a_blocked_card_always_declines_and_alerts() {
    let acct = r#"{"card_id":"c1","status":"blocked","home_country":"DE","credit_limit_minor":0,"event_time_ms":1700000000000}"#;
    let records = vec![
        rec(Topic::AccountChanges, 0, Some("c1"), acct),
        auth(0, "t0", "m1", 100, T0),
    ];
    let mut out = Expected::default();
    run_partition(PARAMS, &[model()], &records, &mut out);
    let d = &decisions(&out)[0];
    assert_eq!(d["decision"], "DECLINE");
    assert_eq!(d["reasons"], json!(["NEW_DEVICE", "CARD_BLOCKED"]));
    assert_eq!(out.alerts["t0"]["fraud-v1"]["decision"], "DECLINE");
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let low = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn encode(p: &Progress) -> Vec<u8> {
    let zig = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    let mut b = vec![1u8];
    varint(zig(i64::from(p.partition)), &mut b);
    varint(p.txn_seq, &mut b);
    for o in p.start.iter().chain(&p.end) {
        varint(zig(*o), &mut b);
    }
    varint(p.runs.len() as u64, &mut b);
    for (t, n) in &p.runs {
        b.push(t.index() as u8);
        varint(u64::from(*n), &mut b);
    }
    b
}

#[test]
fn progress_records_decode_and_a_bad_interleaving_is_named() {
    let p1 = Progress {
        partition: 0,
        txn_seq: 1,
        start: [0, 0, 0],
        end: [2, 1, 0],
        runs: vec![
            (Topic::Authorizations, 1),
            (Topic::DeviceTelemetry, 1),
            (Topic::Authorizations, 1),
        ],
    };
    assert_eq!(decode_progress(&encode(&p1)).unwrap(), p1);
    assert!(decode_progress(&[2]).is_err());
    let mut trailing = encode(&p1);
    trailing.push(0);
    assert!(decode_progress(&trailing).is_err());

    let tel = r#"{"card_id":"c1","device_id":"d1","trusted":true,"event_time_ms":1}"#;
    let auths = [auth(0, "t0", "m", 1, T0), auth(1, "t1", "m", 1, T0)];
    let tels = [rec(Topic::DeviceTelemetry, 0, None, tel)];
    let (order, problems) = interleave(0, [&auths, &tels, &[]], std::slice::from_ref(&p1));
    assert!(problems.is_empty(), "{problems:?}");
    let offsets: Vec<(Topic, i64)> = order.iter().map(|r| (r.topic, r.offset)).collect();
    assert_eq!(
        offsets,
        [
            (Topic::Authorizations, 0),
            (Topic::DeviceTelemetry, 0),
            (Topic::Authorizations, 1)
        ]
    );

    // A gap between transactions, and a record below the end never consumed, are both reported.
    let gap = Progress {
        txn_seq: 2,
        start: [3, 1, 0],
        end: [3, 1, 0],
        runs: vec![],
        ..p1.clone()
    };
    let (_, problems) = interleave(0, [&auths, &tels, &[]], &[p1.clone(), gap]);
    assert!(problems[0].contains("starts at"), "{problems:?}");
    let skip = Progress {
        runs: vec![(Topic::Authorizations, 1), (Topic::Authorizations, 1)],
        ..p1
    };
    let (_, problems) = interleave(0, [&auths, &tels, &[]], &[skip]);
    assert!(problems[0].contains("never consumed"), "{problems:?}");
}

#[test]
fn comparison_is_by_field_and_counts_every_kind_of_difference() {
    let records = vec![
        auth(0, "t0", "m1", 100, T0),
        rec(Topic::Authorizations, 1, None, "{}"),
    ];
    let mut want = Expected::default();
    run_partition(PARAMS, &[model()], &records, &mut want);
    let decision = want.decisions["t0"]["fraud-v1"].clone();
    let mut dlq = want.dlq[0].clone();
    dlq["reason"] = json!("missing field txn_id");
    // Same record, other key order: equal.
    let reordered: Value = serde_json::from_str(&{
        let mut fields: Vec<(String, Value)> =
            decision.as_object().unwrap().clone().into_iter().collect();
        fields.reverse();
        format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("{k:?}:{v}"))
                .collect::<Vec<_>>()
                .join(",")
        )
    })
    .unwrap();
    let ok = Committed {
        decisions: vec![reordered],
        alerts: vec![],
        dlq: vec![dlq.clone()],
        late: vec![],
    };
    let f = compare(&want, &ok);
    assert_eq!(
        (
            f.mismatched_decisions,
            f.mismatched_dlq,
            f.missing_decisions
        ),
        (0, 0, 0),
        "{f:?}"
    );

    let mut changed = decision.clone();
    changed["score"] = json!(99);
    let mut no_reason = dlq;
    no_reason.as_object_mut().unwrap().remove("reason");
    let bad = Committed {
        decisions: vec![changed, decision.clone()],
        alerts: vec![json!({"txn_id": "forged"})],
        dlq: vec![no_reason],
        late: vec![],
    };
    let f = compare(&want, &bad);
    assert_eq!(f.mismatched_decisions, 1);
    assert_eq!(f.duplicate_decisions, 1);
    assert_eq!(f.mismatched_alerts, 1);
    assert_eq!(f.mismatched_dlq, 1);
    assert_eq!(compare(&want, &Committed::default()).missing_decisions, 1);
}

#[test]
fn alerts_follow_the_model_version_of_the_decision_made() {
    let decision = |v: &str| json!({"txn_id": "t1", "model_version": v, "decision": "x"});
    let mut want = Expected::default();
    let by = want.decisions.entry("t1".into()).or_default();
    by.insert("v1".into(), decision("v1"));
    by.insert("v2".into(), decision("v2"));
    // Only v1 alerts on t1; an alert for a transaction without a committed decision is never due.
    let alert = json!({"txn_id": "t1", "model_version": "v1"});
    want.alerts
        .entry("t1".into())
        .or_default()
        .insert("v1".into(), alert.clone());
    want.alerts
        .entry("t9".into())
        .or_default()
        .insert("v1".into(), json!({"txn_id": "t9"}));

    let under = |v: &str, alerts: Vec<Value>| Committed {
        decisions: vec![decision(v)],
        alerts,
        ..Committed::default()
    };
    let f = compare(&want, &under("v2", vec![]));
    assert_eq!((f.expected_alerts, f.mismatched_alerts), (0, 0), "{f:?}");
    let f = compare(&want, &under("v1", vec![]));
    assert_eq!((f.expected_alerts, f.mismatched_alerts), (1, 1), "{f:?}");
    let f = compare(&want, &under("v1", vec![alert.clone(), alert]));
    assert_eq!(
        (f.actual_alerts, f.mismatched_alerts),
        (2, 1),
        "a repeated alert: {f:?}"
    );
}

/// §2 rule 0 and §8: more than 65,536 bytes of key and value is `too_large`, checked before anything else,
/// and the DLQ record keeps the first 65,536 bytes of a longer field with its whole length and SHA-256.
#[test]
fn an_oversized_record_is_too_large_and_its_dlq_copy_is_cut() {
    use sha2::{Digest, Sha256};
    let a = Topic::Authorizations;
    let good = auth_json("t1", "c1", "m1", 100, T0).to_string();
    let padded = format!("{good}{}", " ".repeat(65_536 - good.len() - 2));
    assert_eq!(kind(a, Some("c1"), &padded), Ok(()), "at the limit");
    let over = format!("{padded} ");
    assert_eq!(kind(a, Some("c1"), &over), Err("too_large"));
    let mut tombstone = rec(a, 0, None, "");
    tombstone.value = None;
    tombstone.key = Some(vec![b'k'; 65_537]);
    assert_eq!(validate(&tombstone).map(|_| ()), Err("too_large"));

    let value = vec![b'{'; 100_000];
    let mut big = rec(a, 4, Some("c1"), "");
    big.value = Some(value.clone());
    let mut out = Expected::default();
    run_partition(PARAMS, &[model()], &[big], &mut out);
    let d = &out.dlq[0];
    assert_eq!(d["error_kind"], "too_large");
    assert_eq!(d["value_hex"].as_str().unwrap().len(), 2 * 65_536);
    assert!(
        d["value_hex"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c == '7' || c == 'b')
    );
    assert_eq!(d["value_len"], 100_000);
    let digest: String = Sha256::digest(&value)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(d["value_sha256"], digest);
    assert_eq!(d["key_hex"], "6331");
    assert!(d.get("key_len").is_none() && d.get("key_sha256").is_none());
}
