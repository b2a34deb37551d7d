use proptest::prelude::*;

use super::*;
use crate::testkit::{T0, mk_account, mk_auth, mk_telemetry};

fn auth_json() -> serde_json::Value {
    serde_json::to_value(mk_auth("c1", "t1", T0)).unwrap()
}

fn decode_auth(v: &serde_json::Value) -> Result<InputEvent, DecodeError> {
    decode(
        SourceTopic::Authorizations,
        Some(b"c1"),
        Some(&serde_json::to_vec(v).unwrap()),
    )
}

fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
    let mut v = auth_json();
    v[field] = value;
    v
}

fn err_text(v: &serde_json::Value) -> String {
    decode_auth(v).unwrap_err().to_string()
}

#[test]
fn valid_events_round_trip() {
    let events = [
        InputEvent::Authorization(mk_auth("c1", "t1", T0)),
        InputEvent::DeviceTelemetry(mk_telemetry("c1", "d1", true, T0)),
        InputEvent::AccountChange(mk_account("c1", AccountStatus::Blocked, "FR", T0)),
    ];
    for e in events {
        let bytes = e.to_json().unwrap();
        assert_eq!(decode(e.topic(), Some(b"c1"), Some(&bytes)).unwrap(), e);
        assert_eq!(decode(e.topic(), None, Some(&bytes)).unwrap(), e);
    }
}

#[test]
fn topic_indices_are_stable() {
    for (i, t) in SourceTopic::ALL.into_iter().enumerate() {
        assert_eq!(usize::from(t.index()), i);
        assert_eq!(SourceTopic::from_index(t.index()), Some(t));
    }
    assert_eq!(SourceTopic::from_index(3), None);
    assert_eq!(
        serde_json::to_string(&SourceTopic::DeviceTelemetry).unwrap(),
        "\"device-telemetry\""
    );
}

#[test]
fn envelope_errors() {
    let t = SourceTopic::Authorizations;
    assert_eq!(decode(t, None, None).unwrap_err().kind(), "missing_value");
    let e = decode(t, None, Some(b"{\"a\":\"\xff\"}")).unwrap_err();
    assert_eq!(e, DecodeError::InvalidUtf8 { valid_up_to: 6 });
    assert_eq!(
        decode(t, None, Some(b"{")).unwrap_err().kind(),
        "invalid_json"
    );
    assert_eq!(
        decode(t, None, Some(b"{} x")).unwrap_err().kind(),
        "invalid_json"
    );
    assert_eq!(
        decode(t, None, Some(b"[1,2]")).unwrap_err().to_string(),
        "value: expected a JSON object, got array"
    );
    assert_eq!(
        decode(t, None, Some(b"null")).unwrap_err().kind(),
        "not_an_object"
    );
}

#[test]
fn unknown_duplicate_and_missing_fields() {
    assert_eq!(
        err_text(&with("extra", 1.into())),
        "field \"extra\": unknown field for topic authorizations"
    );
    let mut dup = serde_json::to_string(&auth_json()).unwrap();
    dup.insert_str(1, "\"amount_minor\":5,");
    let e = decode(SourceTopic::Authorizations, None, Some(dup.as_bytes())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "field \"amount_minor\": appears more than once"
    );
    let mut v = auth_json();
    v.as_object_mut().unwrap().remove("mcc");
    assert_eq!(err_text(&v), "field mcc: missing");
}

#[test]
fn wrong_types_name_the_field() {
    assert_eq!(
        err_text(&with("amount_minor", "5".into())),
        "field amount_minor: expected integer, got string"
    );
    assert_eq!(
        err_text(&with("amount_minor", serde_json::json!(5.5))),
        "field amount_minor: expected integer, got number 5.5"
    );
    assert_eq!(
        err_text(&with("card_id", serde_json::Value::Null)),
        "field card_id: expected string, got null"
    );
    let v = serde_json::to_value(mk_telemetry("c1", "d1", true, T0)).unwrap();
    let mut v2 = v.clone();
    v2["trusted"] = "yes".into();
    let e = decode(
        SourceTopic::DeviceTelemetry,
        None,
        Some(&serde_json::to_vec(&v2).unwrap()),
    );
    assert_eq!(
        e.unwrap_err().to_string(),
        "field trusted: expected boolean, got string"
    );
}

#[test]
fn amount_rules() {
    assert_eq!(
        err_text(&with("amount_minor", (-5).into())),
        "field amount_minor: must be > 0, got -5"
    );
    assert_eq!(
        err_text(&with("amount_minor", 0.into())),
        "field amount_minor: must be > 0, got 0"
    );
    assert!(decode_auth(&with("amount_minor", MAX_AMOUNT_MINOR.into())).is_ok());
    assert_eq!(
        err_text(&with("amount_minor", (MAX_AMOUNT_MINOR + 1).into())),
        "field amount_minor: must be <= 10000000000000, got 10000000000001"
    );
    assert_eq!(
        err_text(&with("amount_minor", u64::MAX.into())),
        "field amount_minor: must be <= 10000000000000, got 18446744073709551615"
    );
}

#[test]
fn id_rules() {
    assert_eq!(
        err_text(&with("merchant_id", "".into())),
        "field merchant_id: must not be empty"
    );
    assert!(decode_auth(&with("txn_id", "x".repeat(64).into())).is_ok());
    assert_eq!(
        err_text(&with("txn_id", "x".repeat(65).into())),
        "field txn_id: must be at most 64 bytes, got 65"
    );
    assert_eq!(
        err_text(&with("device_id", "a\u{7}b".into())),
        "field device_id: must not contain control characters, found U+0007 at byte 1"
    );
}

#[test]
fn code_rules() {
    assert_eq!(
        err_text(&with("currency", "eur".into())),
        "field currency: must be 3 uppercase ASCII letters (ISO 4217), got \"eur\""
    );
    assert!(decode_auth(&with("currency", "EURO".into())).is_err());
    assert!(decode_auth(&with("country", "D".into())).is_err());
    assert!(decode_auth(&with("country", "ÄÖ".into())).is_err());
    assert_eq!(
        err_text(&with("mcc", "541".into())),
        "field mcc: must be exactly 4 ASCII digits, got \"541\""
    );
    assert!(decode_auth(&with("mcc", 5411.into())).is_err());
    assert!(decode_auth(&with("mcc", "0742".into())).is_ok());
    assert_eq!(
        err_text(&with("channel", "web".into())),
        "field channel: must be one of pos|ecom|atm|moto, got \"web\""
    );
    for c in ["pos", "ecom", "atm", "moto"] {
        assert!(decode_auth(&with("channel", c.into())).is_ok());
    }
}

#[test]
fn event_time_rules() {
    assert!(decode_auth(&with("event_time_ms", 0.into())).is_ok());
    assert!(decode_auth(&with("event_time_ms", MAX_EVENT_TIME_MS.into())).is_ok());
    assert_eq!(
        err_text(&with("event_time_ms", (-1).into())),
        "field event_time_ms: must be >= 0, got -1"
    );
    assert!(decode_auth(&with("event_time_ms", (MAX_EVENT_TIME_MS + 1).into())).is_err());
}

#[test]
fn account_change_rules() {
    let base = serde_json::to_value(mk_account("c1", AccountStatus::Active, "DE", T0)).unwrap();
    let check = |field: &str, value: serde_json::Value| {
        let mut v = base.clone();
        v[field] = value;
        decode(
            SourceTopic::AccountChanges,
            None,
            Some(&serde_json::to_vec(&v).unwrap()),
        )
    };
    assert!(check("credit_limit_minor", 0.into()).is_ok());
    assert_eq!(
        check("credit_limit_minor", (-1).into())
            .unwrap_err()
            .to_string(),
        "field credit_limit_minor: must be >= 0, got -1"
    );
    assert_eq!(
        check("status", "closed".into()).unwrap_err().to_string(),
        "field status: must be one of active|blocked, got \"closed\""
    );
    assert!(check("home_country", "de".into()).is_err());
}

#[test]
fn key_must_match_card_id() {
    let bytes = serde_json::to_vec(&auth_json()).unwrap();
    let e = decode(SourceTopic::Authorizations, Some(b"c2"), Some(&bytes)).unwrap_err();
    assert_eq!(e.kind(), "key_mismatch");
    assert_eq!(e.to_string(), "key: must equal card_id \"c1\", got \"c2\"");
    let e = decode(SourceTopic::Authorizations, Some(b"\xff\x00"), Some(&bytes)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "key: must equal card_id \"c1\", got 2 non-UTF-8 bytes (hex ff00)"
    );
}

#[test]
fn echoed_input_is_escaped_and_truncated() {
    let long = format!("{}\n", "Z".repeat(100));
    let text = err_text(&with("currency", long.into()));
    assert!(text.len() < 120, "{text}");
    assert!(!text.contains('\n'));
}

#[test]
fn kinds_are_listed() {
    let e = decode(SourceTopic::Authorizations, None, None).unwrap_err();
    assert!(DecodeError::KINDS.contains(&e.kind()));
}

fn mutate(mut bytes: Vec<u8>, edits: Vec<(usize, u8)>) -> Vec<u8> {
    for (pos, b) in edits {
        if bytes.is_empty() {
            bytes.push(b);
        } else {
            let i = pos % bytes.len();
            bytes[i] = b;
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(
        topic in 0u8..3,
        key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..256)),
    ) {
        let topic = SourceTopic::from_index(topic).unwrap();
        if let Err(e) = decode(topic, key.as_deref(), value.as_deref()) {
            prop_assert!(DecodeError::KINDS.contains(&e.kind()));
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn decode_never_panics_on_mutated_json(
        topic in 0u8..3,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        edits_ascii in proptest::collection::vec((any::<usize>(), 0x20u8..0x7f), 0..4),
    ) {
        let topic = SourceTopic::from_index(topic).unwrap();
        let event = match topic {
            SourceTopic::Authorizations => InputEvent::Authorization(mk_auth("c1", "t1", T0)),
            SourceTopic::DeviceTelemetry => InputEvent::DeviceTelemetry(mk_telemetry("c1", "d", false, T0)),
            SourceTopic::AccountChanges => InputEvent::AccountChange(mk_account("c1", AccountStatus::Active, "DE", T0)),
        };
        let bytes = mutate(mutate(event.to_json().unwrap(), edits), edits_ascii);
        if let Ok(decoded) = decode(topic, Some(b"c1"), Some(&bytes)) {
            prop_assert_eq!(decoded.card_id(), "c1");
        }
    }
}
