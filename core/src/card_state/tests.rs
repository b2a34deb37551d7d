use proptest::prelude::*;

use super::*;
use crate::event::{AccountStatus, InputEvent};
use crate::testkit::{mk_account, mk_auth, mk_telemetry};

/// The state frozen in [`V1_FIXTURE`].
fn fixture_state() -> CardState {
    let mut s = CardState::default();
    let mut a = mk_auth("c1", "t1", 90_000_000);
    a.merchant_id = "m7".into();
    a.amount_minor = 2_500;
    s.apply(&InputEvent::Authorization(a));
    s.apply(&InputEvent::DeviceTelemetry(mk_telemetry(
        "c1", "d2", true, 90_000_500,
    )));
    s.apply(&InputEvent::AccountChange(mk_account(
        "c1",
        AccountStatus::Blocked,
        "FR",
        90_001_000,
    )));
    s
}

/// Bytes written by schema v1. Frozen: if this test fails, v1 decoding broke and state written by
/// deployed workers would no longer load. Add a v2 decoder instead of changing v1.
const V1_FIXTURE: &[u8] = &[
    1, // version
    208, 185, 234, 85, // last_event_time_ms = 90_001_000 (zigzag LEB128)
    1, 128, 170, 234, 85, // prev_txn_time_ms = Some(90_000_000)
    1, 1, 2, b'F', b'R', 192, 132, 61, 208, 185, 234,
    85, // account: blocked, FR, 500_000, as_of
    1, 128, 170, 234, 85, 136, 39, 2, b'm', b'7', // 1 auth: t, 2_500, "m7"
    2, 2, b'd', b'1', 128, 170, 234, 85, 0, // device d1: last_seen, no trust
    2, b'd', b'2', 232, 177, 234, 85, 2, 232, 177, 234,
    85, // device d2: trusted at 90_000_500
    1, 2, 196, 19, 1, // 1 bucket: day 1, sum 2_500, count 1
];

#[test]
fn v1_fixture_still_decodes() {
    assert_eq!(CardState::decode(V1_FIXTURE).unwrap(), fixture_state());
    assert_eq!(fixture_state().encode(), V1_FIXTURE);
    assert_eq!(peek_last_event_time_ms(V1_FIXTURE).unwrap(), 90_001_000);
}

#[test]
fn unknown_versions_and_garbage_are_errors() {
    assert_eq!(CardState::decode(&[]).unwrap_err().kind(), "empty");
    for v in [0u8, 2, 255] {
        let mut bytes = V1_FIXTURE.to_vec();
        bytes[0] = v;
        assert_eq!(
            CardState::decode(&bytes).unwrap_err().kind(),
            "unsupported_version"
        );
        assert!(peek_last_event_time_ms(&bytes).is_err());
    }
    let mut trailing = V1_FIXTURE.to_vec();
    trailing.push(0);
    assert_eq!(
        CardState::decode(&trailing).unwrap_err().kind(),
        "trailing_bytes"
    );
    for cut in 0..V1_FIXTURE.len() {
        assert!(
            CardState::decode(&V1_FIXTURE[..cut]).is_err(),
            "prefix {cut} decoded"
        );
    }
}

#[test]
fn unsorted_sections_are_rejected() {
    // Swap the two device entries: same content, non-canonical order.
    let s = fixture_state();
    let bytes = s.encode();
    let d1 = [2u8, b'd', b'1', 128, 170, 234, 85, 0];
    let d2 = [2u8, b'd', b'2', 232, 177, 234, 85, 2, 232, 177, 234, 85];
    let start = bytes.windows(d1.len()).position(|w| w == d1).unwrap();
    let mut swapped = bytes[..start].to_vec();
    swapped.extend_from_slice(&d2);
    swapped.extend_from_slice(&d1);
    swapped.extend_from_slice(&bytes[start + d1.len() + d2.len()..]);
    assert_eq!(
        CardState::decode(&swapped).unwrap_err().kind(),
        "not_sorted"
    );
}

#[test]
fn apply_tracks_max_event_time_and_latest_profile() {
    let mut s = fixture_state();
    s.apply(&InputEvent::Authorization(mk_auth("c1", "t2", 10)));
    assert_eq!(s.last_event_time_ms, 90_001_000);
    assert_eq!(s.prev_txn_time_ms, Some(10));
    s.apply(&InputEvent::AccountChange(mk_account(
        "c1",
        AccountStatus::Active,
        "DE",
        5,
    )));
    assert_eq!(s.account.as_ref().unwrap().status, AccountStatus::Blocked);
    assert_eq!(s.daily.len(), 2);
}

#[test]
fn ttl_is_strict_and_needs_a_watermark() {
    let s = CardState {
        last_event_time_ms: 1_000,
        ..CardState::default()
    };
    assert!(!s.is_expired(None, 10));
    assert!(!s.is_expired(Some(1_010), 10));
    assert!(s.is_expired(Some(1_011), 10));
}

#[test]
fn prune_drops_old_entries_and_buckets() {
    let mut s = CardState::default();
    for t in [0, DAY_MS, 40 * DAY_MS, 40 * DAY_MS + 5] {
        s.apply(&InputEvent::Authorization(mk_auth("c1", "t", t)));
    }
    s.prune(40 * DAY_MS);
    assert_eq!(s.auths.len(), 2);
    assert_eq!(s.daily.keys().copied().collect::<Vec<_>>(), vec![40]);
    let mut s2 = CardState::default();
    for t in [8 * DAY_MS, 9 * DAY_MS] {
        s2.apply(&InputEvent::Authorization(mk_auth("c1", "t", t)));
    }
    s2.prune(40 * DAY_MS);
    assert_eq!(s2.daily.keys().copied().collect::<Vec<_>>(), vec![9]);
    assert!(s2.auths.is_empty());
    assert_eq!(
        s2.devices.len(),
        1,
        "device map is kept (bounded by card TTL)"
    );
}

fn arb_event() -> impl Strategy<Value = InputEvent> {
    (
        0u8..3,
        0i64..(100 * DAY_MS),
        0u8..4,
        1i64..10_000_000,
        any::<bool>(),
    )
        .prop_map(|(kind, t, n, amount, flag)| match kind {
            0 => {
                let mut a = mk_auth("c1", "t", t);
                a.merchant_id = format!("m{n}");
                a.device_id = format!("d{n}");
                a.amount_minor = amount;
                InputEvent::Authorization(a)
            }
            1 => InputEvent::DeviceTelemetry(mk_telemetry("c1", &format!("d{n}"), flag, t)),
            _ => {
                let status = if flag {
                    AccountStatus::Blocked
                } else {
                    AccountStatus::Active
                };
                InputEvent::AccountChange(mk_account("c1", status, "DE", t))
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn encode_decode_round_trips(events in proptest::collection::vec(arb_event(), 0..40)) {
        let mut s = CardState::default();
        for e in &events {
            s.apply(e);
        }
        let bytes = s.encode();
        prop_assert_eq!(CardState::decode(&bytes).unwrap(), s.clone());
        prop_assert_eq!(peek_last_event_time_ms(&bytes).unwrap(), s.last_event_time_ms);
    }

    #[test]
    fn garbled_bytes_never_panic(
        events in proptest::collection::vec(arb_event(), 0..10),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let mut s = CardState::default();
        for e in &events {
            s.apply(e);
        }
        let mut bytes = s.encode();
        for (pos, b) in edits {
            let i = pos % bytes.len();
            bytes[i] = b;
        }
        let _ = CardState::decode(&bytes);
        let _ = CardState::decode(&bytes[..cut % (bytes.len() + 1)]);
        let _ = peek_last_event_time_ms(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = CardState::decode(&bytes);
        let mut v1 = bytes.clone();
        v1.insert(0, 1);
        let _ = CardState::decode(&v1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The pruning contract: for any auth at t >= horizon + 1 h, features are unchanged.
    #[test]
    fn prune_never_changes_admissible_features(
        events in proptest::collection::vec(arb_event(), 0..40),
        horizon in 0i64..(100 * DAY_MS),
        after in 0i64..(40 * DAY_MS),
        device in 0u8..4,
    ) {
        let mut s = CardState::default();
        for e in &events {
            s.apply(e);
        }
        let mut pruned = s.clone();
        pruned.prune(horizon);
        let mut a = mk_auth("c1", "probe", horizon + crate::features::WINDOW_1H_MS + after);
        a.device_id = format!("d{device}");
        prop_assert_eq!(
            crate::features::compute(&pruned, &a),
            crate::features::compute(&s, &a)
        );
    }
}
