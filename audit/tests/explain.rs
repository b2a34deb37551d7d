//! `explain`: the printable answer of `sluice audit explain --txn-id X`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use common::{decision, decisions, local_table};
use sluice_audit::{AsOf, Offsets, explain};

#[tokio::test]
async fn explain_prints_the_decision_and_features_with_time_travel() {
    let dir = tempfile::tempdir().unwrap();
    let table = local_table(dir.path()).await;

    let empty = explain(&table, "txn-p0-o2", AsOf::Current).await.unwrap();
    assert!(empty.snapshot.is_none());
    assert!(empty.to_string().contains("no snapshot"), "{empty}");

    let first = table
        .append(&decisions(0, 0..3), &Offsets::from([(0, 3)]))
        .await
        .unwrap()
        .unwrap();
    table
        .append(&decisions(0, 3..6), &Offsets::from([(0, 6)]))
        .await
        .unwrap()
        .unwrap();

    let d = decision(0, 4);
    let current = explain(&table, &d.txn_id, AsOf::Current).await.unwrap();
    assert_eq!(current.decision.as_ref(), Some(&d));
    assert_eq!(current.matching_rows, 1);
    let text = current.to_string();
    for needle in [
        d.txn_id.as_str(),
        d.decision.as_str(),
        "amount_ratio_30d_bp",
        d.model_version.as_str(),
        "offset 4",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let json = serde_json::to_value(&current).unwrap();
    assert_eq!(
        json["decision"]["features"]["txn_count_60s"],
        d.features.txn_count_60s
    );

    let past = explain(&table, &d.txn_id, AsOf::SnapshotId(first.snapshot_id))
        .await
        .unwrap();
    assert_eq!(
        past.snapshot.as_ref().unwrap().snapshot_id,
        first.snapshot_id
    );
    assert_eq!(
        past.snapshot.as_ref().unwrap().offsets,
        Offsets::from([(0, 3)])
    );
    assert!(past.decision.is_none());
    assert!(past.to_string().contains("not found"), "{past}");
}
