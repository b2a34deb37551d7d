//! Starting over: `fresh` removes only what Sluice created, and state never outlives the commits it belongs to.

use super::tests::{JobSpec, committed_output, mk_job, quiet};
use crate::local::{CrashPoint, LocalError, LocalJob, LocalSettings, RunOptions, run};

fn not_fresh(job: LocalJob) -> LocalJob {
    LocalJob {
        local: LocalSettings {
            fresh: false,
            ..job.local.clone()
        },
        ..job
    }
}

#[test]
fn fresh_keeps_files_sluice_did_not_create() {
    let dir = tempfile::tempdir().unwrap();
    let job = mk_job(
        dir.path(),
        &JobSpec {
            authorizations: 300,
            ..JobSpec::default()
        },
    );
    run(&job, &quiet()).unwrap();
    std::fs::write(dir.path().join("state/notes.txt"), "mine").unwrap();
    std::fs::write(dir.path().join("out/notes.txt"), "mine").unwrap();
    let summary = run(&job, &quiet()).unwrap();
    assert_eq!(summary.resumed_after_commit, None);
    assert!(dir.path().join("state/notes.txt").is_file());
    assert!(dir.path().join("out/notes.txt").is_file());
}

#[test]
fn checkpoints_of_another_job_are_not_restored_after_the_outputs_were_deleted() {
    let dir = tempfile::tempdir().unwrap();
    // Job A leaves checkpoints behind, then its outputs are deleted by hand.
    let a = mk_job(dir.path(), &JobSpec::default());
    let crash = |job: &LocalJob, at| {
        let opts = RunOptions {
            crash: Some(at),
            ..quiet()
        };
        assert!(matches!(
            run(job, &opts),
            Err(LocalError::SimulatedCrash { .. })
        ));
    };
    crash(&a, CrashPoint::AfterCommit(2));
    std::fs::remove_dir_all(dir.path().join("out")).unwrap();

    // Job B (another seed, never checkpointing) reuses the state directory without `fresh`, crashes, resumes.
    let spec_b = JobSpec {
        seed: 99,
        checkpoint_interval: "1h",
        ..JobSpec::default()
    };
    let b = not_fresh(mk_job(dir.path(), &spec_b));
    crash(&b, CrashPoint::AfterCommit(3));
    let summary = run(&b, &quiet()).unwrap();
    assert_eq!(
        summary.replayed,
        3 * 250,
        "B must rebuild from its own input, not A's checkpoint"
    );

    let reference = tempfile::tempdir().unwrap();
    run(&mk_job(reference.path(), &spec_b), &quiet()).unwrap();
    assert_eq!(
        committed_output(&dir.path().join("out")),
        committed_output(&reference.path().join("out"))
    );
}
