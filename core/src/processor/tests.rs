use super::*;
use crate::card_state::DAY_MS;
use crate::event::{AccountStatus, InputEvent, SourceTopic};
use crate::model::{Decision, ReasonCode, ScoringModel};
use crate::testkit::{T0, mk_account, mk_auth, mk_records, mk_telemetry, run_processor};

fn auth(card: &str, txn: &str, t: i64) -> InputEvent {
    InputEvent::Authorization(mk_auth(card, txn, t))
}

fn decisions(out: &[Output]) -> Vec<&DecisionRecord> {
    out.iter()
        .filter_map(|o| match o {
            Output::Decision(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn run(events: &[InputEvent]) -> Vec<Output> {
    run_processor(
        JobParams::default(),
        &ScoringModel::default_v1(),
        &mk_records(events),
    )
    .0
}

#[test]
fn defaults_are_documented_values() {
    let p = JobParams::default();
    assert_eq!(
        (p.out_of_orderness_ms, p.allowed_lateness_ms),
        (5_000, 2_000)
    );
    assert_eq!(p.state_ttl_ms, 45 * DAY_MS);
    p.validate().unwrap();
    let bad = JobParams {
        state_ttl_ms: 0,
        ..p
    };
    assert_eq!(bad.validate().unwrap_err().field, "state_ttl_ms");
}

#[test]
fn must_load_before_processing_and_check_partition() {
    let mut store = MemStore::new();
    let mut p = PartitionProcessor::new(JobParams::default(), ScoringModel::default_v1(), 3);
    let rec = mk_records(&[auth("c1", "t", T0)]).remove(0);
    let mut out = Vec::new();
    let err = p.process(&mut store, rec.as_input(), &mut out).unwrap_err();
    assert_eq!(err.kind(), "not_loaded");
    p.load(&mut store).unwrap();
    let err = p.process(&mut store, rec.as_input(), &mut out).unwrap_err();
    assert_eq!(err.kind(), "wrong_partition");
    assert!(out.is_empty());
}

#[test]
fn decision_and_alert_json_shapes() {
    let mut a = mk_auth("c1", "t1", T0);
    a.country = "US".into();
    let out = run(&[
        InputEvent::AccountChange(mk_account("c1", AccountStatus::Active, "DE", T0 - 10)),
        InputEvent::Authorization(a),
    ]);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].kind(), OutputKind::Decisions);
    assert_eq!(out[0].key_bytes(), Some(&b"c1"[..]));
    assert_eq!(
        String::from_utf8(out[0].to_json_bytes().unwrap()).unwrap(),
        r#"{"txn_id":"t1","card_id":"c1","decision":"REVIEW","score":40,"reasons":["NEW_DEVICE","COUNTRY_MISMATCH"],"features":{"txn_count_60s":1,"amount_sum_1h_minor":1000,"distinct_merchants_10m":1,"device_seen_before":false,"device_trusted":false,"ms_since_prev_txn":null,"country_mismatch":true,"amount_ratio_30d_bp":null,"card_blocked":false},"model_version":"fraud-v1","source_partition":0,"source_offset":1,"event_time_ms":1700000000000}"#
    );
    assert_eq!(
        String::from_utf8(out[1].to_json_bytes().unwrap()).unwrap(),
        r#"{"txn_id":"t1","card_id":"c1","account_id":"acct-c1","merchant_id":"m1","amount_minor":1000,"currency":"EUR","country":"US","decision":"REVIEW","score":40,"reasons":["NEW_DEVICE","COUNTRY_MISMATCH"],"model_version":"fraud-v1","source_partition":0,"source_offset":1,"event_time_ms":1700000000000}"#
    );
}

#[test]
fn bad_records_go_to_dlq_with_raw_bytes() {
    let mut store = MemStore::new();
    let mut p = PartitionProcessor::new(JobParams::default(), ScoringModel::default_v1(), 0);
    p.load(&mut store).unwrap();
    let mut out = Vec::new();
    let rec = InputRecord {
        topic: SourceTopic::DeviceTelemetry,
        partition: 0,
        offset: 42,
        key: Some(b"k\x00"),
        value: Some(b"{\"card_id\":1}"),
    };
    p.process(&mut store, rec, &mut out).unwrap();
    assert_eq!(out[0].key_bytes(), Some(&b"k\x00"[..]));
    assert_eq!(
        String::from_utf8(out[0].to_json_bytes().unwrap()).unwrap(),
        r#"{"source_topic":"device-telemetry","source_partition":0,"source_offset":42,"error_kind":"wrong_type","reason":"field card_id: expected string, got integer","key_hex":"6b00","value_hex":"7b22636172645f6964223a317d"}"#
    );
    let tombstone = InputRecord {
        key: None,
        value: None,
        ..rec
    };
    p.process(&mut store, tombstone, &mut out).unwrap();
    let json = String::from_utf8(out[1].to_json_bytes().unwrap()).unwrap();
    assert!(json.ends_with(r#""error_kind":"missing_value","reason":"value: missing (tombstone record)","key_hex":null,"value_hex":null}"#), "{json}");
    assert_eq!(
        p.watermark(),
        None,
        "invalid records do not move the watermark"
    );
    assert!(store.cards.is_empty() && store.meta.is_none());
}

#[test]
fn an_oversized_record_goes_to_the_dlq_cut_with_its_length_and_digest() {
    use sha2::{Digest, Sha256};
    let mut store = MemStore::new();
    let mut p = PartitionProcessor::new(JobParams::default(), ScoringModel::default_v1(), 0);
    p.load(&mut store).unwrap();
    let mut out = Vec::new();
    let value = vec![b' '; 900_000];
    let rec = InputRecord {
        topic: SourceTopic::Authorizations,
        partition: 0,
        offset: 7,
        key: Some(b"card-1"),
        value: Some(&value),
    };
    p.process(&mut store, rec, &mut out).unwrap();
    let Output::Dlq(d) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(d.error_kind, "too_large");
    assert!(d.reason.contains("900006 bytes"), "{}", d.reason);
    assert_eq!(d.value.as_ref().map(Vec::len), Some(DLQ_KEEP_BYTES));
    assert_eq!(d.value_len, Some(900_000));
    assert_eq!(
        d.value_sha256.as_deref(),
        Some(crate::hex::encode(&Sha256::digest(&value)).as_str())
    );
    assert_eq!((d.key.as_deref(), d.key_len), (Some(&b"card-1"[..]), None));
    let json = out[0].to_json_bytes().unwrap();
    assert!(json.len() < 300_000, "{} bytes", json.len());
    let back: DlqRecord = serde_json::from_slice(&json).unwrap();
    assert_eq!(&back, d);

    // At the limit exactly a record is judged by the ordinary rules, and kept whole.
    let at_limit = vec![b'x'; crate::event::MAX_RECORD_BYTES - 6];
    let rec = InputRecord {
        value: Some(&at_limit),
        ..rec
    };
    p.process(&mut store, rec, &mut out).unwrap();
    let Output::Dlq(d) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(d.error_kind, "invalid_json");
    assert_eq!((d.value_len, d.value_sha256.as_deref()), (None, None));
    let json = String::from_utf8(out[1].to_json_bytes().unwrap()).unwrap();
    assert!(!json.contains("value_len"), "absent unless cut");
}

#[test]
fn dlq_json_round_trips() {
    let out = run_processor(
        JobParams::default(),
        &ScoringModel::default_v1(),
        &[OwnedInputRecord {
            topic: SourceTopic::Authorizations,
            partition: 0,
            offset: 1,
            key: None,
            value: Some(vec![0xff, 0x00]),
        }],
    )
    .0;
    let Output::Dlq(d) = &out[0] else {
        panic!("{out:?}")
    };
    let back: DlqRecord = serde_json::from_slice(&out[0].to_json_bytes().unwrap()).unwrap();
    assert_eq!(&back, d);
}

#[test]
fn watermark_excludes_current_record_and_late_records_are_routed() {
    let params = JobParams::default(); // ooo 5 s, lateness 2 s
    let events = [
        auth("c1", "a", T0),
        auth("c1", "b", T0 - 7_000), // cutoff = T0 - 5 000 - 2 000: exactly on it -> on time
        auth("c1", "c", T0 - 7_001), // 1 ms behind the cutoff -> late
        auth("c1", "e", T0 + 1),
        auth("c2", "d", T0 + 100_000), // moves the watermark, is itself on time
    ];
    let (out, store, p) = run_processor(params, &ScoringModel::default_v1(), &mk_records(&events));
    let kinds: Vec<_> = out.iter().map(Output::kind).collect();
    assert_eq!(
        kinds,
        [
            OutputKind::Decisions,
            OutputKind::Decisions,
            OutputKind::Late,
            OutputKind::Decisions,
            OutputKind::Decisions
        ]
    );
    assert_eq!(out[2].key_bytes(), Some(&b"c1"[..]));
    let Output::Late(l) = &out[2] else { panic!() };
    assert_eq!((l.event_time_ms, l.watermark_ms), (T0 - 7_001, T0 - 5_000));
    assert_eq!(l.card_id, "c1");
    // The late record changed nothing: e sees a, b and itself.
    assert_eq!(decisions(&out)[2].features.txn_count_60s, 3);
    assert_eq!(p.watermark(), Some(T0 + 95_000));
    let meta = PartitionMeta::decode(store.meta.as_ref().unwrap()).unwrap();
    assert_eq!(meta.max_event_time_ms, Some(T0 + 100_000));
}

#[test]
fn velocity_counts_out_of_order_events_in_window() {
    let events = [
        auth("c1", "a", T0 + 3_000),
        auth("c1", "b", T0), // out of order, still on time
        auth("c1", "c", T0 + 60_000),
    ];
    let out = run(&events);
    let d = decisions(&out);
    assert_eq!(
        d[1].features.txn_count_60s, 1,
        "a is later in event time than b"
    );
    assert_eq!(
        d[2].features.txn_count_60s, 2,
        "b is exactly 60 s old: excluded"
    );
    assert_eq!(d[1].features.ms_since_prev_txn, Some(-3_000));
}

#[test]
fn ttl_expiry_forgets_the_card() {
    let params = JobParams {
        state_ttl_ms: DAY_MS,
        ..JobParams::default()
    };
    let events = [
        InputEvent::AccountChange(mk_account("c1", AccountStatus::Blocked, "DE", T0)),
        InputEvent::DeviceTelemetry(mk_telemetry("c1", "d1", true, T0)),
        auth("c1", "a", T0 + 1),
        // c2 advances the watermark to T0 + 2 days - 5 s: c1 (last event T0 + 1) is now expired.
        auth("c2", "b", T0 + 2 * DAY_MS),
        auth("c1", "c", T0 + 2 * DAY_MS),
    ];
    let (out, _, p) = run_processor(params, &ScoringModel::default_v1(), &mk_records(&events));
    let d = decisions(&out);
    assert!(d[0].features.card_blocked && d[0].features.device_trusted);
    assert_eq!(d[0].decision, Decision::Decline);
    let fresh = &d[2].features;
    assert!(!fresh.card_blocked && !fresh.device_seen_before);
    assert_eq!(fresh.ms_since_prev_txn, None);
    assert_eq!(d[2].reasons, vec![ReasonCode::NewDevice]);
    assert_eq!(p.ttl_cutoff(), Some(T0 + DAY_MS - 5_000));
}

#[test]
fn ttl_boundary_is_strict() {
    let params = JobParams {
        state_ttl_ms: DAY_MS,
        out_of_orderness_ms: 0,
        allowed_lateness_ms: 0,
    };
    // Watermark after the c2 auth is exactly T0 + DAY_MS: c1's last event T0 is not < T0.
    let events = [
        auth("c1", "a", T0),
        auth("c2", "b", T0 + DAY_MS),
        auth("c1", "c", T0 + DAY_MS),
    ];
    let (out, _, _) = run_processor(params, &ScoringModel::default_v1(), &mk_records(&events));
    assert!(decisions(&out)[2].features.device_seen_before);
    let events = [
        auth("c1", "a", T0),
        auth("c2", "b", T0 + DAY_MS + 1),
        auth("c1", "c", T0 + DAY_MS + 1),
    ];
    let (out, _, _) = run_processor(params, &ScoringModel::default_v1(), &mk_records(&events));
    assert!(!decisions(&out)[2].features.device_seen_before);
}

#[test]
fn blocked_card_declines_and_alerts() {
    let events = [
        InputEvent::AccountChange(mk_account("c1", AccountStatus::Blocked, "DE", T0)),
        auth("c1", "a", T0 + 1),
    ];
    let out = run(&events);
    assert_eq!(out.len(), 2);
    let Output::Alert(a) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(a.decision, Decision::Decline);
    assert!(a.reasons.contains(&ReasonCode::CardBlocked));
}

#[test]
fn pruning_keeps_state_small() {
    let events: Vec<InputEvent> = (0..200).map(|i| auth("c1", "t", T0 + i * 60_000)).collect();
    let (_, store, _) = run_processor(
        JobParams::default(),
        &ScoringModel::default_v1(),
        &mk_records(&events),
    );
    let state = crate::card_state::CardState::decode(&store.cards["c1"]).unwrap();
    assert!(
        state.auths.len() <= 62,
        "kept {} auth entries",
        state.auths.len()
    );
}

#[test]
fn corrupt_state_is_an_error_not_a_reset() {
    let mut store = MemStore::new();
    store.cards.insert("c1".into(), vec![9, 9]);
    let mut p = PartitionProcessor::new(JobParams::default(), ScoringModel::default_v1(), 0);
    p.load(&mut store).unwrap();
    let rec = mk_records(&[auth("c1", "t", T0)]).remove(0);
    let mut out = Vec::new();
    let err = p.process(&mut store, rec.as_input(), &mut out).unwrap_err();
    assert_eq!(err.kind(), "corrupt_card_state");
    assert!(!err.is_transient());
    assert!(out.is_empty());
    store.meta = Some(vec![7]);
    assert_eq!(p.load(&mut store).unwrap_err().kind(), "corrupt_meta");
}

#[test]
fn pruning_boundary_keeps_what_an_admissible_auth_reads() {
    // Default params: cutoff = max - 7 000; prune horizon = cutoff - 1 h.
    let mut first = mk_auth("c1", "a", T0 + 500);
    first.amount_minor = 100;
    let mut probe = mk_auth("c1", "p", T0 + 3_600_001);
    probe.amount_minor = 1_000;
    let events = [
        InputEvent::Authorization(first),
        InputEvent::DeviceTelemetry(mk_telemetry("c1", "d1", true, T0 + 3_607_001)),
        // Processed with cutoff T0 + 3 600 001, so pruning runs with horizon T0 + 1.
        InputEvent::DeviceTelemetry(mk_telemetry("c1", "d1", true, T0 + 3_607_001)),
        // Exactly on the cutoff (admissible); its 1 h window starts after T0 + 1.
        InputEvent::Authorization(probe),
    ];
    let records = mk_records(&events);
    let model = ScoringModel::default_v1();
    let (out, _, _) = run_processor(JobParams::default(), &model, &records);
    assert_eq!(decisions(&out)[1].features.amount_sum_1h_minor, 1_100);
    let oracle = crate::oracle::oracle_decisions(&JobParams::default(), &model, &records);
    assert_eq!(crate::oracle::OracleResult::from_outputs(out), oracle);
}
