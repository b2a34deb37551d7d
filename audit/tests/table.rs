//! The audit table on real files: SQLite catalog and Parquet data in a temp dir.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use common::{decision, decisions, local_config, local_table};
use sluice_audit::{AsOf, AuditError, AuditTable, Offsets, uncommitted};

#[tokio::test]
async fn appends_commit_offsets_and_time_travel() {
    let dir = tempfile::tempdir().unwrap();
    let table = local_table(dir.path()).await;

    assert_eq!(table.committed_offsets().await.unwrap(), Offsets::new());
    assert_eq!(table.row_count(AsOf::Current).await.unwrap(), 0);
    assert_eq!(
        table.find_txn("txn-p0-o0", AsOf::Current).await.unwrap(),
        None
    );

    let mut batch1 = decisions(0, 0..6);
    batch1.extend(decisions(1, 0..4));
    let first = table
        .append(&batch1, &Offsets::from([(0, 6), (1, 4)]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.rows, 10);
    // Rows span two event days: one file per day at least.
    assert!(first.data_files >= 2, "{first:?}");

    // Commit timestamps are wall-clock ms: keep the two snapshots apart for time travel by time.
    tokio::time::sleep(Duration::from_millis(20)).await;

    let mut batch2 = decisions(0, 6..9);
    batch2.extend(decisions(2, 0..3));
    let second = table
        .append(&batch2, &Offsets::from([(0, 9), (2, 3)]))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(second.snapshot_id, first.snapshot_id);

    // Partition 1 is not in the second append and keeps its offset.
    let expected = Offsets::from([(0, 9), (1, 4), (2, 3)]);
    assert_eq!(second.offsets, expected);
    assert_eq!(table.committed_offsets().await.unwrap(), expected);
    assert_eq!(
        table
            .offsets_as_of(AsOf::SnapshotId(first.snapshot_id))
            .await
            .unwrap(),
        Offsets::from([(0, 6), (1, 4)])
    );

    // Current state: every row, found with its full feature vector.
    assert_eq!(table.row_count(AsOf::Current).await.unwrap(), 16);
    let late = decision(2, 1);
    assert_eq!(
        table.find_txn(&late.txn_id, AsOf::Current).await.unwrap(),
        Some(late.clone())
    );
    let early = decision(0, 3);
    assert_eq!(
        table.find_txn(&early.txn_id, AsOf::Current).await.unwrap(),
        Some(early.clone())
    );

    // Time travel to the first snapshot, by id and by its commit time: batch 2 is absent.
    let s1 = AsOf::SnapshotId(first.snapshot_id);
    assert_eq!(table.row_count(s1).await.unwrap(), 10);
    assert_eq!(table.find_txn(&late.txn_id, s1).await.unwrap(), None);
    assert_eq!(
        table.find_txn(&early.txn_id, s1).await.unwrap(),
        Some(early.clone())
    );
    let snapshots = table.snapshots().await.unwrap();
    assert_eq!(snapshots.len(), 2);
    let t1 = AsOf::TimestampMs(snapshots[0].timestamp_ms);
    assert_eq!(table.find_txn(&late.txn_id, t1).await.unwrap(), None);
    assert_eq!(table.row_count(t1).await.unwrap(), 10);
    let before_any = AsOf::TimestampMs(snapshots[0].timestamp_ms - 1);
    assert!(matches!(
        table.row_count(before_any).await,
        Err(AuditError::NoSuchSnapshot { .. })
    ));
    assert!(matches!(
        table.find_txn("x", AsOf::SnapshotId(42)).await,
        Err(AuditError::NoSuchSnapshot { .. })
    ));

    // A new handle (a restarted worker, the CLI) sees the same table.
    drop(table);
    let reopened = AuditTable::open(local_config(dir.path())).await.unwrap();
    assert_eq!(reopened.committed_offsets().await.unwrap(), expected);
    assert_eq!(reopened.row_count(AsOf::Current).await.unwrap(), 16);
    assert_eq!(
        reopened
            .find_txn(&late.txn_id, AsOf::Current)
            .await
            .unwrap(),
        Some(late)
    );
    let again = AuditTable::open_or_create(local_config(dir.path()))
        .await
        .unwrap();
    assert_eq!(again.row_count(s1).await.unwrap(), 10);
}

#[tokio::test]
async fn recovery_appends_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let table = local_table(dir.path()).await;
    table
        .append(&decisions(0, 0..5), &Offsets::from([(0, 5)]))
        .await
        .unwrap();

    // A recovering worker regenerates 0..8 (replay from an older checkpoint): appending all of it
    // would duplicate 0..5 and is refused.
    let regenerated = decisions(0, 0..8);
    let covers = Offsets::from([(0, 8)]);
    let err = table.append(&regenerated, &covers).await.unwrap_err();
    assert!(matches!(err, AuditError::Batch { .. }), "{err}");
    assert!(err.to_string().contains("already committed"), "{err}");

    let committed = table.committed_offsets().await.unwrap();
    let missing: Vec<_> = uncommitted(&regenerated, &committed)
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(missing, decisions(0, 5..8));
    table.append(&missing, &covers).await.unwrap().unwrap();
    assert_eq!(table.row_count(AsOf::Current).await.unwrap(), 8);
    for offset in 0..8 {
        let txn = decision(0, offset).txn_id;
        assert_eq!(
            table.find_all(&txn, AsOf::Current).await.unwrap().len(),
            1,
            "{txn}"
        );
    }
}

#[tokio::test]
async fn append_rejects_inconsistent_batches_and_skips_empty_ones() {
    let dir = tempfile::tempdir().unwrap();
    let table = local_table(dir.path()).await;
    table
        .append(&decisions(0, 0..3), &Offsets::from([(0, 3)]))
        .await
        .unwrap();

    // Offsets may not move back (a stale writer after a rescale).
    let err = table
        .append(&[], &Offsets::from([(0, 2)]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stale writer"), "{err}");
    // A row outside the covered range, or of a partition not covered.
    let err = table
        .append(&decisions(0, 3..5), &Offsets::from([(0, 4)]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not below the covered offset"),
        "{err}"
    );
    let err = table
        .append(&decisions(5, 0..1), &Offsets::from([(0, 4)]))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("partition 5 is not in the covered offsets"),
        "{err}"
    );
    assert_eq!(
        table.snapshots().await.unwrap().len(),
        1,
        "rejected appends commit nothing"
    );

    // Nothing new: no snapshot. Offsets advanced without decisions (all input went to dlq/late):
    // an empty snapshot that records the offsets.
    assert_eq!(
        table.append(&[], &Offsets::from([(0, 3)])).await.unwrap(),
        None
    );
    let advanced = table
        .append(&[], &Offsets::from([(0, 7)]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(advanced.data_files, 0);
    assert_eq!(
        table.committed_offsets().await.unwrap(),
        Offsets::from([(0, 7)])
    );
    assert_eq!(table.row_count(AsOf::Current).await.unwrap(), 3);
}

#[tokio::test]
async fn data_files_roll_at_the_target_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = local_config(dir.path());
    cfg.target_file_size_bytes = 64 * 1024;
    let table = AuditTable::open_or_create(cfg).await.unwrap();
    let rows = decisions(0, 0..20_000);
    let appended = table
        .append(&rows, &Offsets::from([(0, 20_000)]))
        .await
        .unwrap()
        .unwrap();
    // Two event days, each well over the target: several files per day.
    assert!(appended.data_files >= 4, "{appended:?}");
    assert_eq!(table.row_count(AsOf::Current).await.unwrap(), 20_000);
    let probe = decision(0, 12_345);
    assert_eq!(
        table.find_txn(&probe.txn_id, AsOf::Current).await.unwrap(),
        Some(probe)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_of_different_partitions_all_land() {
    // Four workers (four handles, four catalog connections) append their own partition at the
    // same moment, round after round. Whoever loses a catalog race must rebase and re-merge the
    // offsets; a commit that silently lands on a newer base with offsets computed from the older
    // one would drop another partition's progress (seen once as {0: 40, 1: 50}).
    const WRITERS: i32 = 4;
    const ROUNDS: i64 = 16;
    let dir = tempfile::tempdir().unwrap();
    let first = local_table(dir.path()).await;
    let mut handles = vec![first.clone()];
    for _ in 1..WRITERS {
        let handle = AuditTable::open_or_create(local_config(dir.path()));
        handles.push(handle.await.unwrap());
    }
    for round in 0..ROUNDS {
        let range = round * 10..(round + 1) * 10;
        let tasks: Vec<_> = handles
            .iter()
            .enumerate()
            .map(|(partition, handle)| {
                let partition = i32::try_from(partition).unwrap();
                let handle = handle.clone();
                let range = range.clone();
                tokio::spawn(async move {
                    let rows = decisions(partition, range.clone());
                    let covers = Offsets::from([(partition, range.end)]);
                    handle.append(&rows, &covers).await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap().unwrap();
        }
        let expected: Offsets = (0..WRITERS).map(|p| (p, range.end)).collect();
        assert_eq!(
            first.committed_offsets().await.unwrap(),
            expected,
            "round {round}"
        );
    }
    let appends = i64::from(WRITERS) * ROUNDS;
    let rows = first.row_count(AsOf::Current).await.unwrap();
    assert_eq!(i64::try_from(rows).unwrap(), appends * 10);
    let snapshots = first.snapshots().await.unwrap().len();
    assert_eq!(i64::try_from(snapshots).unwrap(), appends);
}
