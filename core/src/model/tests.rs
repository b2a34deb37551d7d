use super::*;
use crate::features::FeatureVector;

/// Features that trigger nothing.
fn quiet() -> FeatureVector {
    FeatureVector {
        txn_count_60s: 1,
        amount_sum_1h_minor: 1_000,
        distinct_merchants_10m: 1,
        device_seen_before: true,
        device_trusted: true,
        ms_since_prev_txn: None,
        country_mismatch: false,
        amount_ratio_30d_bp: None,
        card_blocked: false,
    }
}

fn yaml_with(from: &str, to: &str) -> String {
    assert!(
        FRAUD_V1_YAML.contains(from),
        "fixture edit {from:?} not found"
    );
    FRAUD_V1_YAML.replacen(from, to, 1)
}

#[test]
fn shipped_file_equals_default_v1() {
    let parsed = ScoringModel::from_yaml(FRAUD_V1_YAML).unwrap();
    assert_eq!(parsed, ScoringModel::default_v1());
    ScoringModel::default_v1().validate().unwrap();
}

#[test]
fn quiet_features_approve() {
    let s = ScoringModel::default_v1().score(&quiet());
    assert_eq!(
        (s.score, s.decision, s.reasons.len()),
        (0, Decision::Approve, 0)
    );
}

#[test]
fn each_rule_adds_its_points_and_reason() {
    let m = ScoringModel::default_v1();
    let w = m.weights;
    let cases: Vec<(FeatureVector, ReasonCode, i64)> = vec![
        (
            FeatureVector {
                txn_count_60s: 4,
                ..quiet()
            },
            ReasonCode::Velocity60s,
            w.velocity_60s.points,
        ),
        (
            FeatureVector {
                amount_sum_1h_minor: 500_000,
                ..quiet()
            },
            ReasonCode::Amount1h,
            w.amount_1h.points,
        ),
        (
            FeatureVector {
                distinct_merchants_10m: 3,
                ..quiet()
            },
            ReasonCode::DistinctMerchants10m,
            w.distinct_merchants_10m.points,
        ),
        (
            FeatureVector {
                device_seen_before: false,
                device_trusted: false,
                ..quiet()
            },
            ReasonCode::NewDevice,
            w.new_device.points,
        ),
        (
            FeatureVector {
                device_trusted: false,
                ..quiet()
            },
            ReasonCode::UntrustedDevice,
            w.untrusted_device.points,
        ),
        (
            FeatureVector {
                ms_since_prev_txn: Some(9_999),
                ..quiet()
            },
            ReasonCode::RapidSuccession,
            w.rapid_succession.points,
        ),
        (
            FeatureVector {
                ms_since_prev_txn: Some(-9_999),
                ..quiet()
            },
            ReasonCode::RapidSuccession,
            w.rapid_succession.points,
        ),
        (
            FeatureVector {
                country_mismatch: true,
                ..quiet()
            },
            ReasonCode::CountryMismatch,
            w.country_mismatch.points,
        ),
        (
            FeatureVector {
                amount_ratio_30d_bp: Some(50_000),
                ..quiet()
            },
            ReasonCode::AmountRatio30d,
            w.amount_ratio_30d.points,
        ),
    ];
    for (f, code, points) in cases {
        let s = m.score(&f);
        assert_eq!(s.reasons, vec![code], "{f:?}");
        assert_eq!(s.score, points, "{f:?}");
    }
}

#[test]
fn rule_edges_just_below_do_not_trigger() {
    let m = ScoringModel::default_v1();
    let below = [
        FeatureVector {
            txn_count_60s: 3,
            ..quiet()
        },
        FeatureVector {
            amount_sum_1h_minor: 499_999,
            ..quiet()
        },
        FeatureVector {
            distinct_merchants_10m: 2,
            ..quiet()
        },
        FeatureVector {
            ms_since_prev_txn: Some(10_000),
            ..quiet()
        },
        FeatureVector {
            ms_since_prev_txn: Some(-10_000),
            ..quiet()
        },
        FeatureVector {
            amount_ratio_30d_bp: Some(49_999),
            ..quiet()
        },
    ];
    for f in below {
        assert_eq!(m.score(&f).score, 0, "{f:?}");
    }
}

#[test]
fn thresholds_are_inclusive() {
    let mut m = ScoringModel::default_v1();
    m.thresholds = Thresholds {
        review: 25,
        decline: 50,
    };
    let one = FeatureVector {
        country_mismatch: true,
        ..quiet()
    }; // 25
    assert_eq!(m.score(&one).decision, Decision::Review);
    let two = FeatureVector {
        amount_ratio_30d_bp: Some(60_000),
        ..one.clone()
    }; // 50
    assert_eq!(m.score(&two).decision, Decision::Decline);
    m.thresholds.review = 26;
    assert_eq!(m.score(&one).decision, Decision::Approve);
}

#[test]
fn blocked_card_is_a_hard_decline() {
    let mut m = ScoringModel::default_v1();
    m.weights.card_blocked.points = 0;
    let s = m.score(&FeatureVector {
        card_blocked: true,
        ..quiet()
    });
    assert_eq!(s.decision, Decision::Decline);
    assert_eq!(s.reasons, vec![ReasonCode::CardBlocked]);
    assert_eq!(s.score, 0);
}

#[test]
fn zero_points_disable_a_rule() {
    let mut m = ScoringModel::default_v1();
    m.weights.country_mismatch.points = 0;
    let s = m.score(&FeatureVector {
        country_mismatch: true,
        ..quiet()
    });
    assert!(s.reasons.is_empty());
}

#[test]
fn reasons_follow_rule_order_and_serialize_as_codes() {
    let f = FeatureVector {
        card_blocked: true,
        txn_count_60s: 9,
        country_mismatch: true,
        ..quiet()
    };
    let s = ScoringModel::default_v1().score(&f);
    assert_eq!(
        serde_json::to_string(&s).unwrap(),
        r#"{"score":155,"decision":"DECLINE","reasons":["VELOCITY_60S","COUNTRY_MISMATCH","CARD_BLOCKED"]}"#
    );
}

fn yaml_err(text: &str) -> String {
    ScoringModel::from_yaml(text).unwrap_err().to_string()
}

#[test]
fn yaml_errors_name_field_and_fix() {
    let e = yaml_err(&yaml_with("review: 40", "review: 90"));
    assert_eq!(
        e,
        "model field thresholds.review: must be < thresholds.decline, got review=90 decline=70 \
         (fix: lower thresholds.review or raise thresholds.decline)"
    );
    let e = yaml_err(&yaml_with("review: 40", "review: -1"));
    assert!(
        e.starts_with("model field thresholds.review: must be between 0"),
        "{e}"
    );
    let e = yaml_err(&yaml_with("points: 30", "points: -3"));
    assert!(
        e.starts_with("model field weights.velocity_60s.points: must be between 0"),
        "{e}"
    );
    let e = yaml_err(&yaml_with("min_count: 4", "min_count: 0"));
    assert!(
        e.starts_with("model field weights.velocity_60s.min_count"),
        "{e}"
    );
    let e = yaml_err(&yaml_with("max_gap_ms: 10000", "max_gap_ms: 0"));
    assert!(
        e.starts_with("model field weights.rapid_succession.max_gap_ms: must be > 0"),
        "{e}"
    );
    let e = yaml_err(&yaml_with("version: fraud-v1", "version: \"fraud v1\""));
    assert!(e.starts_with("model field version"), "{e}");
}

#[test]
fn yaml_shape_errors_carry_the_path() {
    let e = ScoringModel::from_yaml(&yaml_with("    min_ratio_bp: 50000\n", "")).unwrap_err();
    assert_eq!(e.kind(), "yaml");
    let text = e.to_string();
    assert!(
        text.contains("weights.amount_ratio_30d") && text.contains("min_ratio_bp"),
        "{text}"
    );

    let text = yaml_err(&yaml_with("  review: 40\n", "  review: 40\n  reveiw: 1\n"));
    assert!(text.contains("unknown field `reveiw`"), "{text}");

    let text = yaml_err(&yaml_with("points: 15", "points: fifteen"));
    assert!(text.contains("weights.new_device.points"), "{text}");

    let text = yaml_err(&yaml_with("points: 15", "points: 1.5"));
    assert!(text.contains("weights.new_device.points"), "{text}");

    assert_eq!(ScoringModel::from_yaml("").unwrap_err().kind(), "yaml");
    assert_eq!(
        ScoringModel::from_yaml("[1, 2]").unwrap_err().kind(),
        "yaml"
    );
}
