#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Leader fencing with two real `sluice-operator` processes against the local kube-apiserver: the leader is
//! paused with SIGSTOP for longer than its Lease, the standby takes the Lease over and handles a spec change,
//! and the old leader, resumed with SIGCONT, must not act: its leader gauge reads 0 at its first scrape, it
//! completes no reconcile (its `sluice_operator_reconciles_total{result="ok"}` stays where it was before the
//! pause) while the new leader handles two more generations, and the Lease stays with the new holder.
//!
//! Without the renew deadline on the monotonic clock, the resumed process still believes it leads until its
//! next Lease round and reconciles the spec change it finds in its watch stream.

mod common;

use std::time::{Duration, Instant};

use common::OperatorEnv;
use common::operators::{
    OperatorProcess, leader_gauge, lease_holder, metric, start_operator, wait_sole_leader,
};
use kube::api::{Patch, PatchParams, PostParams};
use sluice_testbed::cache::run_root;
use sluice_testbed::unique_name;

const JOB_YAML: &str = "commitInterval: 100ms\nstate:\n  checkpointInterval: 2s\n";

/// `sluice_operator_reconciles_total{result="ok"}` of a running operator.
async fn ok_reconciles(op: &OperatorProcess) -> Option<u64> {
    metric(op, "sluice_operator_reconciles_total{result=\"ok\"}").await
}

fn signal(op: &OperatorProcess, sig: &str) {
    let ok = sluice_testbed::binaries::signal(op.process.pid(), sig);
    assert!(ok, "kill {sig} {}", op.identity);
}

/// Bumps `checkpointTriggerNonce` (a new generation) and waits until the job's status reports it.
async fn new_generation(env: &OperatorEnv, nonce: i64) -> i64 {
    let patch = serde_json::json!({"spec": {"checkpointTriggerNonce": nonce}});
    let job = env
        .jobs()
        .patch(
            common::JOB_NAME,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let generation = job.metadata.generation.unwrap();
    env.wait_for(
        "the new generation observed",
        Duration::from_secs(60),
        async |j| {
            let seen = j.status.as_ref()?.observed_generation?;
            (seen >= generation).then_some(())
        },
    )
    .await;
    generation
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_paused_past_its_lease_resumes_fenced() {
    let env = OperatorEnv::start("opfence", 2, JOB_YAML).await;
    let dir = run_root().join(unique_name("opfence-run"));
    std::fs::create_dir_all(&dir).unwrap();
    let lease = unique_name("sluice-operator");
    // fence-a starts first and leads; fence-b joins as the standby.
    let mut ops = Vec::new();
    for id in ["fence-a", "fence-b"] {
        ops.push(start_operator(&env, &dir, id, &lease));
        let leader = Some("fence-a");
        wait_sole_leader(&env, &lease, &mut ops, leader, Duration::from_secs(60)).await;
    }
    // A suspended job: reconciled and given a status like any other, with no workers to run.
    let suspended = serde_json::json!({"spec": {"state": "suspended"}});
    env.jobs()
        .create(&PostParams::default(), &env.stream_job(1, suspended))
        .await
        .unwrap();
    new_generation(&env, 1).await;

    let before = ok_reconciles(&ops[0])
        .await
        .expect("the leader's reconcile count");
    assert!(before > 0, "the leader reconciled the job");
    signal(&ops[0], "-STOP");
    let paused = Instant::now();
    let deadline = paused + Duration::from_secs(60);
    loop {
        if let Some((holder, _)) = lease_holder(&env, &lease).await
            && holder == "fence-b"
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby did not take the Lease over"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "fence-b took the Lease {:?} after the pause",
        paused.elapsed()
    );
    // A spec change while the old leader is stopped: its watch delivers it when it resumes.
    new_generation(&env, 2).await;
    let (_, transitions) = lease_holder(&env, &lease).await.unwrap();

    signal(&ops[0], "-CONT");
    let gauge = leader_gauge(&ops[0]).await;
    assert_eq!(
        gauge,
        Some(0),
        "the resumed process still claims leadership"
    );
    new_generation(&env, 3).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = ok_reconciles(&ops[0])
        .await
        .expect("the resumed process answers");
    assert_eq!(
        after,
        before,
        "the resumed process completed reconciles without leading; its log:\n{}",
        ops[0].process.log_tail(30)
    );
    assert_eq!(leader_gauge(&ops[0]).await, Some(0));
    assert_eq!(leader_gauge(&ops[1]).await, Some(1));
    assert_eq!(
        lease_holder(&env, &lease).await,
        Some(("fence-b".to_string(), transitions)),
        "the Lease changed hands again"
    );
}
