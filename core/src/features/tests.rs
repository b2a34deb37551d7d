use super::*;
use crate::card_state::{CardState, DAY_MS};
use crate::event::{AccountStatus, InputEvent};
use crate::testkit::{T0, mk_account, mk_auth, mk_telemetry};

/// Apply events in order, returning the state.
fn state_of(events: Vec<InputEvent>) -> CardState {
    let mut s = CardState::default();
    for e in &events {
        s.apply(e);
    }
    s
}

fn auth_at(t: i64) -> InputEvent {
    InputEvent::Authorization(mk_auth("c1", "x", t))
}

fn auth_with(t: i64, amount: i64, merchant: &str) -> InputEvent {
    let mut a = mk_auth("c1", "x", t);
    a.amount_minor = amount;
    a.merchant_id = merchant.to_owned();
    InputEvent::Authorization(a)
}

#[test]
fn first_auth_counts_only_itself() {
    let f = compute(&CardState::default(), &mk_auth("c1", "t", T0));
    assert_eq!(f.txn_count_60s, 1);
    assert_eq!(f.amount_sum_1h_minor, 1_000);
    assert_eq!(f.distinct_merchants_10m, 1);
    assert!(!f.device_seen_before && !f.device_trusted);
    assert_eq!(f.ms_since_prev_txn, None);
    assert_eq!(f.amount_ratio_30d_bp, None);
    assert!(!f.country_mismatch && !f.card_blocked);
}

#[test]
fn velocity_window_is_half_open_at_60s() {
    let s = state_of(vec![auth_at(T0), auth_at(T0 + 1)]);
    // Exactly 60 000 ms later: the auth at T0 is out, T0 + 1 is in.
    let f = compute(&s, &mk_auth("c1", "t", T0 + 60_000));
    assert_eq!(f.txn_count_60s, 2);
    let f = compute(&s, &mk_auth("c1", "t", T0 + 59_999));
    assert_eq!(f.txn_count_60s, 3);
    let f = compute(&s, &mk_auth("c1", "t", T0 + 60_001));
    assert_eq!(f.txn_count_60s, 1);
}

#[test]
fn later_event_time_auths_are_outside_the_window() {
    // Processed earlier but 1 ms later in event time: not "in the last 60 s" of this auth.
    let s = state_of(vec![auth_at(T0 + 1)]);
    let f = compute(&s, &mk_auth("c1", "t", T0));
    assert_eq!(f.txn_count_60s, 1);
    assert_eq!(f.ms_since_prev_txn, Some(-1));
    // Equal event time is inside.
    let f = compute(&s, &mk_auth("c1", "t", T0 + 1));
    assert_eq!(f.txn_count_60s, 2);
}

#[test]
fn amount_sum_over_one_hour() {
    let s = state_of(vec![
        auth_with(T0, 100, "a"),
        auth_with(T0 + 1, 200, "a"),
        auth_with(T0 + 3_600_000, 400, "a"),
    ]);
    let mut a = mk_auth("c1", "t", T0 + 3_600_000);
    a.amount_minor = 800;
    assert_eq!(compute(&s, &a).amount_sum_1h_minor, 200 + 400 + 800);
}

#[test]
fn distinct_merchants_over_ten_minutes() {
    let s = state_of(vec![
        auth_with(T0, 1, "a"),
        auth_with(T0 + 1, 1, "b"),
        auth_with(T0 + 2, 1, "b"),
        auth_with(T0 + 3, 1, "c"),
    ]);
    let mut a = mk_auth("c1", "t", T0 + 600_000);
    a.merchant_id = "c".into();
    assert_eq!(compute(&s, &a).distinct_merchants_10m, 2); // b, c ("a" is exactly 10 min old)
    a.merchant_id = "d".into();
    assert_eq!(compute(&s, &a).distinct_merchants_10m, 3);
}

#[test]
fn device_seen_and_trusted() {
    let mut a = mk_auth("c1", "t", T0);
    a.device_id = "d9".into();
    let s = state_of(vec![auth_at(T0 - 5)]); // device d1
    let f = compute(&s, &a);
    assert!(!f.device_seen_before && !f.device_trusted);

    let s = state_of(vec![InputEvent::DeviceTelemetry(mk_telemetry(
        "c1",
        "d9",
        true,
        T0 + 50,
    ))]);
    let f = compute(&s, &a);
    assert!(f.device_seen_before && f.device_trusted);

    // Latest telemetry by event time wins, whatever the processing order.
    let s = state_of(vec![
        InputEvent::DeviceTelemetry(mk_telemetry("c1", "d9", false, T0 + 10)),
        InputEvent::DeviceTelemetry(mk_telemetry("c1", "d9", true, T0 + 5)),
    ]);
    assert!(!compute(&s, &a).device_trusted);
    // Tie: the later-processed verdict wins.
    let s = state_of(vec![
        InputEvent::DeviceTelemetry(mk_telemetry("c1", "d9", false, T0)),
        InputEvent::DeviceTelemetry(mk_telemetry("c1", "d9", true, T0)),
    ]);
    assert!(compute(&s, &a).device_trusted);
    // Seen only via an earlier auth: seen, not trusted.
    let mut prev = mk_auth("c1", "p", T0 - 1);
    prev.device_id = "d9".into();
    let s = state_of(vec![InputEvent::Authorization(prev)]);
    let f = compute(&s, &a);
    assert!(f.device_seen_before && !f.device_trusted);
}

#[test]
fn ms_since_prev_uses_processing_order() {
    let s = state_of(vec![auth_at(T0 + 10_000), auth_at(T0)]);
    let f = compute(&s, &mk_auth("c1", "t", T0 + 3_000));
    assert_eq!(f.ms_since_prev_txn, Some(3_000));
}

#[test]
fn account_profile_latest_by_event_time() {
    let s = state_of(vec![
        InputEvent::AccountChange(mk_account("c1", AccountStatus::Blocked, "FR", T0 + 10)),
        InputEvent::AccountChange(mk_account("c1", AccountStatus::Active, "DE", T0)),
    ]);
    let f = compute(&s, &mk_auth("c1", "t", T0));
    assert!(f.card_blocked, "a delayed stale 'active' must not unblock");
    assert!(f.country_mismatch, "home FR vs auth DE");
    let s = state_of(vec![InputEvent::AccountChange(mk_account(
        "c1",
        AccountStatus::Active,
        "DE",
        T0,
    ))]);
    let f = compute(&s, &mk_auth("c1", "t", T0));
    assert!(!f.card_blocked && !f.country_mismatch);
}

#[test]
fn amount_ratio_over_previous_30_days() {
    let today = T0.div_euclid(DAY_MS) * DAY_MS; // midnight UTC
    let s = state_of(vec![
        auth_with(today - 31 * DAY_MS, 1_000_000, "a"), // day -31: outside
        auth_with(today - 30 * DAY_MS, 300, "a"),       // day -30: inside (first ms)
        auth_with(today - 1, 600, "a"),                 // day -1: inside (last ms)
        auth_with(today, 1_000_000, "a"),               // today: excluded
        auth_with(today + DAY_MS, 1_000_000, "a"),      // future day: excluded
    ]);
    let mut a = mk_auth("c1", "t", today + 5);
    a.amount_minor = 2_250;
    // avg = 900 / 2 = 450; 2250 * 10000 / 450 = 50000 bp.
    assert_eq!(compute(&s, &a).amount_ratio_30d_bp, Some(50_000));
    // Integer division of the average: avg = 1001 / 2 = 500.
    let s = state_of(vec![
        auth_with(today - 1, 1_000, "a"),
        auth_with(today - 2, 1, "a"),
    ]);
    a.amount_minor = 333;
    assert_eq!(compute(&s, &a).amount_ratio_30d_bp, Some(6_660));
}

#[test]
fn feature_vector_json_field_order_is_stable() {
    let f = compute(&CardState::default(), &mk_auth("c1", "t", T0));
    assert_eq!(
        serde_json::to_string(&f).unwrap(),
        r#"{"txn_count_60s":1,"amount_sum_1h_minor":1000,"distinct_merchants_10m":1,"device_seen_before":false,"device_trusted":false,"ms_since_prev_txn":null,"country_mismatch":false,"amount_ratio_30d_bp":null,"card_blocked":false}"#
    );
}
