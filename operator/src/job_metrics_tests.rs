//! Unit tests of the per-job metrics: what a plan says happened, and the series written and removed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use prometheus_client::registry::Registry;
use sluice_crds::{
    JobFigures, LifecycleState, PendingSavepoint, SavepointRecord, SavepointTrigger, SnapshotRef,
    StreamJobStatus, UpgradeMode, UpgradeReason, UpgradeStatus, UpgradeStep,
};

use super::*;
use crate::decide::tests::spec;
use crate::reconcile::{Severity, Transition};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn plan(status: StreamJobStatus, reasons: &[&'static str]) -> Plan {
    Plan {
        status,
        actions: Vec::new(),
        events: reasons
            .iter()
            .map(|r| Transition {
                severity: Severity::Warning,
                reason: r,
                note: String::new(),
            })
            .collect(),
        requeue_secs: 60,
        rescale: None,
    }
}

fn savepoint(id: &str, trigger: SavepointTrigger, secs: i64) -> SavepointRecord {
    SavepointRecord {
        id: id.into(),
        location: format!("s3://ckpt/prod/savepoints/{id}"),
        trigger,
        created_at: Time(at(secs)),
        generation: 1,
    }
}

fn upgrading(started: i64) -> UpgradeStatus {
    UpgradeStatus {
        reason: UpgradeReason::SpecChange,
        mode: UpgradeMode::Savepoint,
        target_generation: 2,
        started_at: Time(at(started)),
        step: UpgradeStep::PodsDeleted { restore_from: None },
    }
}

#[test]
fn an_upgrade_that_ends_is_timed_and_its_savepoint_too() {
    let before = StreamJobStatus {
        upgrade: Some(upgrading(0)),
        savepoints: vec![savepoint("sp-1", SavepointTrigger::Periodic, -600)],
        ..StreamJobStatus::default()
    };
    let after = StreamJobStatus {
        lifecycle_state: Some(LifecycleState::Running),
        savepoints: vec![
            savepoint("sp-1", SavepointTrigger::Periodic, -600),
            savepoint("sp-2", SavepointTrigger::Upgrade, 12),
        ],
        ..StreamJobStatus::default()
    };
    let o = observe(&spec(), &before, &plan(after, &[]), at(95));
    assert_eq!(o.state, Some(LifecycleState::Running));
    assert_eq!(o.upgrade_ended, Some(("spec-change", 95.0)));
    assert_eq!(o.savepoints_completed, [("upgrade", 12.0)]);
    assert_eq!(o.last_savepoint, Some(1_800_000_012.0));
    assert_eq!(o.checkpoint_interval_secs, 30.0);
}

#[test]
fn a_running_savepoint_is_timed_from_its_request_and_failures_are_counted() {
    let before = StreamJobStatus {
        pending_savepoint: Some(PendingSavepoint {
            id: "sp-3".into(),
            started_at: Time(at(100)),
            trigger: SavepointTrigger::Manual,
        }),
        ..StreamJobStatus::default()
    };
    let after = StreamJobStatus {
        savepoints: vec![savepoint("sp-3", SavepointTrigger::Manual, 104)],
        job: Some(JobFigures {
            last_checkpoint: Some(SnapshotRef {
                id: "ck-9".into(),
                location: None,
            }),
            ..JobFigures::default()
        }),
        ..StreamJobStatus::default()
    };
    let events = [
        "SavepointFailed",
        // Retention retiring an old savepoint: not a failure.
        "SavepointExpired",
        "RollbackStarted",
        "WorkerRestarted",
        "WorkerRestarted",
    ];
    let o = observe(&spec(), &before, &plan(after, &events), at(104));
    assert_eq!(o.savepoints_completed, [("manual", 4.0)]);
    assert_eq!(o.upgrade_ended, None);
    assert_eq!((o.savepoint_failures, o.rollbacks, o.restarts), (1, 1, 2));
    assert_eq!(o.checkpoint_id.as_deref(), Some("ck-9"));
}

#[test]
fn series_per_job_follow_the_observations_and_go_with_the_job() {
    let mut registry = Registry::with_prefix("sluice_operator");
    let m = JobMetrics::register(&mut registry);
    let job = JobLabels {
        namespace: "fraud".into(),
        streamjob: "score".into(),
    };
    let mut o = JobObservation {
        state: Some(LifecycleState::Failed),
        checkpoint_id: Some("ck-1".into()),
        rollbacks: 1,
        ..JobObservation::default()
    };
    m.record(&job, &o, at(10));
    // The same checkpoint later keeps the time it was first seen; a new one moves it.
    m.record(&job, &o, at(50));
    let text = encode(&registry);
    for line in [
        r#"sluice_operator_job_state{namespace="fraud",streamjob="score",state="FAILED"} 1"#,
        r#"sluice_operator_job_state{namespace="fraud",streamjob="score",state="RUNNING"} 0"#,
        r#"sluice_operator_job_rollbacks_total{namespace="fraud",streamjob="score"} 2"#,
        r#"sluice_operator_job_last_checkpoint_timestamp_seconds{namespace="fraud",streamjob="score"} 1800000010.0"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    o.checkpoint_id = Some("ck-2".into());
    m.record(&job, &o, at(70));
    let text = encode(&registry);
    assert!(text.contains("streamjob=\"score\"} 1800000070.0"), "{text}");
    m.forget(&job);
    let text = encode(&registry);
    assert!(!text.contains("streamjob=\"score\""), "{text}");
    m.record(&job, &o, at(80));
    m.clear();
    assert!(!encode(&registry).contains("streamjob=\"score\""));
}

fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
    out
}
