//! Crash safety: a run that dies anywhere, resumed (not fresh), commits exactly the output of an uninterrupted
//! run — nothing lost, nothing twice — whether state comes back from a checkpoint or from full replay.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use sluice_core::processor::DecisionRecord;

use super::tests::{JobSpec, committed_output, mk_job, quiet};
use crate::local::{COMMIT_LOG, CrashPoint, LocalError, LocalJob, LocalSummary, RunOptions, run};

fn reference(spec: &JobSpec) -> [Vec<String>; 4] {
    let dir = tempfile::tempdir().unwrap();
    let job = mk_job(dir.path(), spec);
    run(&job, &quiet()).unwrap();
    committed_output(&dir.path().join("out"))
}

fn crash_at(job: &LocalJob, at: CrashPoint) {
    let opts = RunOptions {
        crash: Some(at),
        ..quiet()
    };
    match run(job, &opts) {
        Err(LocalError::SimulatedCrash { .. }) => {}
        other => panic!("expected a simulated crash at {at:?}, got {other:?}"),
    }
}

fn resume(job: &LocalJob) -> LocalSummary {
    let job = LocalJob {
        local: crate::local::LocalSettings {
            fresh: false,
            ..job.local.clone()
        },
        ..job.clone()
    };
    run(&job, &quiet()).unwrap()
}

fn assert_no_txn_twice(out: &Path) {
    let [decisions, ..] = committed_output(out);
    let ids: BTreeSet<String> = decisions
        .iter()
        .map(|d| serde_json::from_str::<DecisionRecord>(d).unwrap().txn_id)
        .collect();
    assert_eq!(ids.len(), decisions.len(), "a txn_id was committed twice");
}

/// Leaves what a crash in the middle of appending commit line N+1 leaves: a torn line.
fn tear_commit_log(out: &Path) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(out.join(COMMIT_LOG))
        .unwrap();
    f.write_all(br#"{"seq":99,"offsets":[{"partition":0,"authoriz"#)
        .unwrap();
}

#[test]
fn crash_after_a_commit_resumes_from_a_checkpoint_plus_replay() {
    let spec = JobSpec::default();
    let expected = reference(&spec);
    let dir = tempfile::tempdir().unwrap();
    let job = mk_job(dir.path(), &spec);
    // Checkpoints follow every commit, but the crash comes between commit 4 and its checkpoint: state is
    // restored from commit 3's checkpoint and commit 4's input is replayed.
    crash_at(&job, CrashPoint::AfterCommit(4));
    let summary = resume(&job);
    assert_eq!(summary.resumed_after_commit, Some(4));
    assert!(
        summary.replayed > 0 && summary.replayed <= 250,
        "{summary:?}"
    );
    let out = dir.path().join("out");
    assert_eq!(committed_output(&out), expected);
    assert_no_txn_twice(&out);
    assert_eq!(summary.processed + 4 * 250, summary.records);
}

#[test]
fn torn_commit_line_and_orphan_files_are_discarded_then_rebuilt_by_full_replay() {
    // No checkpoint is ever due: recovery must start from empty state and replay everything committed.
    let spec = JobSpec {
        checkpoint_interval: "1h",
        ..JobSpec::default()
    };
    let expected = reference(&spec);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = mk_job(dir.path(), &spec);
    crash_at(&job, CrashPoint::BeforeCommitLine(5));
    tear_commit_log(&out);
    let orphan = out.join("decisions/00000000000000000005.jsonl");
    assert!(
        orphan.is_file(),
        "commit 5's data file must be staged before its line"
    );

    let summary = resume(&job);
    assert_eq!(summary.resumed_after_commit, Some(4));
    assert_eq!(summary.replayed, 4 * 250);
    assert!(summary.removed_uncommitted_files >= 1, "{summary:?}");
    assert_eq!(committed_output(&out), expected);
    assert_no_txn_twice(&out);
}

#[test]
fn repeated_crashes_then_a_rerun_of_a_finished_job_change_nothing() {
    let spec = JobSpec::default();
    let expected = reference(&spec);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = mk_job(dir.path(), &spec);
    crash_at(&job, CrashPoint::AfterCommit(2));
    let resumed = LocalJob {
        local: crate::local::LocalSettings {
            fresh: false,
            ..job.local.clone()
        },
        ..job.clone()
    };
    crash_at(&resumed, CrashPoint::BeforeCommitLine(3));
    crash_at(&resumed, CrashPoint::AfterCommit(1));
    resume(&job);
    assert_eq!(committed_output(&out), expected);
    assert_no_txn_twice(&out);

    // Finished job, final checkpoint at the end: nothing to replay or process, output untouched.
    let again = resume(&job);
    assert_eq!((again.processed, again.replayed, again.commits), (0, 0, 0));
    assert_eq!(committed_output(&out), expected);
}

#[test]
fn resuming_with_a_different_generator_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let job = mk_job(dir.path(), &JobSpec::default());
    crash_at(&job, CrashPoint::AfterCommit(1));
    let changed = mk_job(
        dir.path(),
        &JobSpec {
            seed: 8,
            ..JobSpec::default()
        },
    );
    let changed = LocalJob {
        local: crate::local::LocalSettings {
            fresh: false,
            ..changed.local.clone()
        },
        ..changed
    };
    let err = run(&changed, &quiet()).unwrap_err().to_string();
    assert!(
        err.contains("generator") && err.contains("fresh: true"),
        "{err}"
    );
}
