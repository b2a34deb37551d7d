//! `sluice audit compact`: PyIceberg (from PyPI, in the venv made by `audit/compact/venv.sh`)
//! rewrites a table of many small appends; the Rust side then sees fewer files, the same rows,
//! the same offsets, and keeps appending. Fails, never skips, when the venv cannot be made.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{decisions, local_config};
use sluice_audit::{AsOf, AuditTable, Offsets, compact_command_with, run_compaction};
use sluice_core::processor::DecisionRecord;

/// The venv's interpreter (last line of venv.sh's stdout).
fn pyiceberg_python() -> PathBuf {
    let script = common::crate_dir().join("compact/venv.sh");
    let out = Command::new("bash")
        .arg(script)
        .output()
        .expect("run audit/compact/venv.sh");
    assert!(
        out.status.success(),
        "audit/compact/venv.sh failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    PathBuf::from(stdout.lines().last().expect("interpreter path").trim())
}

fn sorted(mut rows: Vec<DecisionRecord>) -> Vec<DecisionRecord> {
    rows.sort_by(|a, b| a.txn_id.cmp(&b.txn_id));
    rows
}

#[tokio::test]
async fn compaction_keeps_rows_and_offsets() {
    let python = pyiceberg_python();
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path());
    let table = AuditTable::open_or_create(cfg.clone()).await.unwrap();

    // 12 checkpoints of two partitions, 5 rows each; every append touches 2024-03-01 and
    // 2024-03-02, the first also 2024-02-29 (offset 0 lies 1 ms before the day boundary).
    for i in 0..12i64 {
        let range = i * 5..(i + 1) * 5;
        let mut rows = decisions(0, range.clone());
        rows.extend(decisions(1, range));
        let covers = Offsets::from([(0, (i + 1) * 5), (1, (i + 1) * 5)]);
        let positions = Offsets::from([(0, 100 + i), (1, 200 + i)]);
        table
            .append_at(&rows, &covers, &positions)
            .await
            .unwrap()
            .unwrap();
    }
    let files_before = table.data_file_count(AsOf::Current).await.unwrap();
    assert_eq!(
        files_before,
        12 * 2 + 1,
        "one file per event day per append"
    );
    let rows_before = sorted(table.all_rows(AsOf::Current).await.unwrap());
    let count_before = table.row_count(AsOf::Current).await.unwrap();
    assert_eq!(count_before, 120);
    let offsets_before = table.committed_offsets().await.unwrap();
    let positions_before = table.log_positions().await.unwrap();
    let snapshot_before = table
        .snapshot_info(AsOf::Current)
        .await
        .unwrap()
        .unwrap()
        .snapshot_id;

    // A threshold above the files per day compacts nothing.
    let cmd = compact_command_with(&python, &cfg, 13, None).unwrap();
    let summary = run_compaction(&cfg, cmd).unwrap();
    assert!(summary.days.is_empty(), "{summary:?}");
    assert_eq!(summary.skipped.len(), 3, "{summary:?}");

    // The default threshold compacts the two days of 12 files, one snapshot each, and leaves
    // the day of one file.
    let cmd = compact_command_with(&python, &cfg, 8, None).unwrap();
    let summary = run_compaction(&cfg, cmd).unwrap();
    assert_eq!(summary.days.len(), 2, "{summary:?}");
    assert_eq!(summary.skipped.len(), 1, "{summary:?}");
    assert_eq!(summary.skipped[0].day, "2024-02-29", "{summary:?}");
    assert_eq!(summary.days[0].day, "2024-03-01", "{summary:?}");
    assert_eq!(summary.days[1].day, "2024-03-02", "{summary:?}");
    for day in &summary.days {
        assert_eq!(day.files_before, 12, "{summary:?}");
        assert_eq!(day.files_after, 1, "{summary:?}");
        assert_eq!(day.rows_before, day.rows_after, "{summary:?}");
        assert_eq!(day.attempts, 1, "{summary:?}");
    }
    let compacted_rows: u64 = summary.days.iter().map(|d| d.rows_after).sum();
    assert_eq!(
        compacted_rows,
        count_before - 2,
        "all but the two rows of 2024-02-29"
    );
    let snapshots = table.snapshots().await.unwrap();
    assert_eq!(snapshots.len(), 12 + 2, "one snapshot per compacted day");

    assert_eq!(table.data_file_count(AsOf::Current).await.unwrap(), 3);
    assert_eq!(table.row_count(AsOf::Current).await.unwrap(), count_before);
    assert_eq!(
        sorted(table.all_rows(AsOf::Current).await.unwrap()),
        rows_before
    );
    assert_eq!(table.committed_offsets().await.unwrap(), offsets_before);
    assert_eq!(table.log_positions().await.unwrap(), positions_before);
    // Every compaction snapshot carries the offsets (time travel to it, as recovery would).
    for s in &snapshots[12..] {
        assert_eq!(s.offsets, offsets_before, "{s:?}");
    }
    // Time travel to before the compaction still reads the old files.
    assert_eq!(
        table
            .data_file_count(AsOf::SnapshotId(snapshot_before))
            .await
            .unwrap(),
        25
    );

    // Only one day with --day; the other is left (here: already compact, so skipped by count).
    let cmd = compact_command_with(&python, &cfg, 2, Some("2024-03-01")).unwrap();
    let summary = run_compaction(&cfg, cmd).unwrap();
    assert!(summary.days.is_empty(), "{summary:?}");
    assert_eq!(summary.skipped.len(), 1, "{summary:?}");
    assert_eq!(summary.skipped[0].day, "2024-03-01", "{summary:?}");

    // Workers keep appending after it, from the offsets it carried.
    let mut rows = decisions(0, 60..65);
    rows.extend(decisions(1, 60..62));
    let appended = table
        .append_at(
            &rows,
            &Offsets::from([(0, 65), (1, 62)]),
            &Offsets::from([(0, 112)]),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(appended.offsets, Offsets::from([(0, 65), (1, 62)]));
    assert_eq!(
        table.log_positions().await.unwrap(),
        Offsets::from([(0, 112), (1, 211)])
    );
    // A repeated (already covered) row is still rejected after the compaction.
    assert!(
        table
            .append(&decisions(0, 10..11), &Offsets::from([(0, 65)]))
            .await
            .is_err()
    );
    let mut expected = rows_before;
    expected.extend(rows);
    assert_eq!(
        sorted(table.all_rows(AsOf::Current).await.unwrap()),
        sorted(expected)
    );
    assert_eq!(table.data_file_count(AsOf::Current).await.unwrap(), 5);
}

#[test]
fn a_missing_interpreter_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path());
    let cmd = compact_command_with(&dir.path().join("no-python"), &cfg, 8, None).unwrap();
    let err = run_compaction(&cfg, cmd).unwrap_err().to_string();
    assert!(err.contains("no-python"), "{err}");
    assert!(compact_command_with(&dir.path().join("p"), &cfg, 1, None).is_err());
    assert!(compact_command_with(&dir.path().join("p"), &cfg, 8, Some("1.3.2024")).is_err());
}

/// A worker commits while the compaction is between reading the day and committing: its commit
/// fails, it re-reads the new snapshot, and the result holds the worker's rows and offsets too.
#[tokio::test]
async fn a_concurrent_append_makes_it_retry() {
    let python = pyiceberg_python();
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path());
    let table = AuditTable::open_or_create(cfg.clone()).await.unwrap();
    for i in 0..4i64 {
        let rows = decisions(0, i * 4..(i + 1) * 4);
        table
            .append_at(
                &rows,
                &Offsets::from([(0, (i + 1) * 4)]),
                &Offsets::from([(0, 10 + i)]),
            )
            .await
            .unwrap()
            .unwrap();
    }
    let pause = dir.path().join("pause");
    std::fs::create_dir(&pause).unwrap();
    let mut cmd = compact_command_with(&python, &cfg, 2, Some("2024-03-01")).unwrap();
    cmd.env("SLUICE_COMPACT_PAUSE_DIR", &pause)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !pause.join("paused").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "compact.py never paused"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let late = decisions(0, 16..20);
    table
        .append_at(&late, &Offsets::from([(0, 20)]), &Offsets::from([(0, 14)]))
        .await
        .unwrap()
        .unwrap();
    std::fs::write(pause.join("resume"), b"").unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let summary = sluice_audit::parse_output(&cfg, &out).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("commit conflict"),
        "{summary:?}"
    );
    assert_eq!(summary.days.len(), 1, "{summary:?}");
    let day = &summary.days[0];
    assert_eq!(day.attempts, 2, "{summary:?}");
    assert_eq!(
        day.files_before, 5,
        "the retry saw the late append: {summary:?}"
    );
    assert_eq!(day.rows_before, day.rows_after, "{summary:?}");

    assert_eq!(
        table.committed_offsets().await.unwrap(),
        Offsets::from([(0, 20)])
    );
    assert_eq!(
        table.log_positions().await.unwrap(),
        Offsets::from([(0, 14)])
    );
    assert_eq!(
        sorted(table.all_rows(AsOf::Current).await.unwrap()),
        sorted(decisions(0, 0..20))
    );
}
