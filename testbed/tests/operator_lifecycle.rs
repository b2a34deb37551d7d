#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The operator's lifecycle paths end to end, with real parts only (Kafka, the S3 server, the local
//! kube-apiserver, the node agent running `sluice-worker` pods as local processes):
//! - suspend / resume: `spec.state: suspended` stops every worker with a savepoint and removes the pods; input
//!   produced meanwhile waits; `spec.state: running` restores the workers from that savepoint;
//! - rollback: a spec change whose workers can never start (an invalid Kafka client property) is rolled back
//!   to `lastStableSpec` from the upgrade's savepoint after `rollback.readinessTimeout`;
//! - leader failover: two `sluice-operator` processes share one Lease; the leader is SIGKILLed, the other
//!   takes the Lease over and rolls out the next spec change.
//!
//! - delete with `deletion.finalSavepoint`: the finalizer stops the workers with a savepoint; a job created
//!   again with `initialSavepointPath` pointing at it continues exactly where the deleted one stopped.
//! - a last-state rescale: pods deleted without a savepoint; the new layout restores from the latest
//!   checkpoints and replays the committed rest.
//!
//! Each ends with `sluice verify`: every authorization has exactly one decision, byte-identical to the oracle.

mod common;

use std::time::{Duration, Instant};

use common::operators::{start_operator, wait_sole_leader};
use common::{JOB_NAME, OperatorEnv, objects_under, s3_client, steady};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use sluice_crds::{LifecycleState, SavepointTrigger, StreamJob, StreamJobStatus, UpgradeStep};
use sluice_testbed::cache::run_root;
use sluice_testbed::input::InputBatches;
use sluice_testbed::unique_name;

const PARTITIONS: i32 = 4;
const JOB_YAML: &str = "commitInterval: 100ms\ncommitMaxRecords: 500\nstate:\n  checkpointInterval: 1s\n  retainedCheckpoints: 2\n  blockCacheMib: 16\n  writeBufferMib: 16\n";
/// Test tags (namespace, bucket and directory name prefixes).
const SUSPEND: &str = "oplc-susp";
const ROLLBACK: &str = "oplc-rb";
const FAILOVER: &str = "oplc-lead";
const FINAL: &str = "oplc-final";
const LAST_STATE: &str = "oplc-last";
/// The tests of this file run one at a time: each runs a whole job (workers, operator, agent), and three at
/// once on a 2-core machine would only test the timeouts. (Pod IPs are claimed machine-wide by the node
/// agent, so running them together would be correct, just slow.)
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// The pod annotation carrying the deployment fingerprint.
const HASH_ANNOTATION: &str = "sluice.dev/deploy-hash";

/// Merge-patches the job's spec; returns the new generation.
async fn patch_spec(env: &OperatorEnv, spec: serde_json::Value) -> i64 {
    env.jobs()
        .patch(
            JOB_NAME,
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({ "spec": spec })),
        )
        .await
        .unwrap()
        .metadata
        .generation
        .unwrap()
}

fn status(job: &StreamJob) -> &StreamJobStatus {
    job.status.as_ref().expect("the job has a status")
}

fn lifecycle(job: &StreamJob) -> Option<LifecycleState> {
    job.status.as_ref()?.lifecycle_state
}

fn condition<'a>(
    st: &'a StreamJobStatus,
    type_: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    st.conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {:#?}", st.conditions))
}

/// The job's Events (events.k8s.io/v1), oldest first.
async fn job_events(env: &OperatorEnv) -> Vec<Event> {
    let mut events: Vec<Event> = Api::<Event>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.name.as_deref() == Some(JOB_NAME))
        })
        .collect();
    events.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
    events
}

fn reasons(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e.reason.clone())
        .collect::<Vec<_>>()
}

/// The job's worker pods.
async fn worker_pods(env: &OperatorEnv) -> Vec<Pod> {
    env.pods()
        .list(&ListParams::default().labels(&format!("sluice.dev/job={JOB_NAME}")))
        .await
        .unwrap()
        .items
}

fn pod_env(pod: &Pod, name: &str) -> Option<String> {
    pod.spec.as_ref()?.containers[0]
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

fn pod_hash(pod: &Pod) -> Option<String> {
    pod.annotations().get(HASH_ANNOTATION).cloned()
}

/// Every worker pod runs the deployed fingerprint and restores from `location`.
async fn assert_pods_restore_from(env: &OperatorEnv, n: usize, hash: Option<&str>, location: &str) {
    let pods = worker_pods(env).await;
    assert_eq!(
        pods.len(),
        n,
        "{:?}",
        pods.iter().map(ResourceExt::name_any).collect::<Vec<_>>()
    );
    for p in &pods {
        assert_eq!(pod_hash(p).as_deref(), hash, "pod {}", p.name_any());
        assert_eq!(
            pod_env(p, "SLUICE_RESTORE_FROM").as_deref(),
            Some(location),
            "pod {}",
            p.name_any()
        );
    }
}

/// What a failed wait reports besides the job's status: the consumer lag, the worker pods' states and the
/// tails of their logs (the node agent keeps each pod's log at `<agent root>/<ns>_<pod>/worker.log`).
async fn diagnose(env: &OperatorEnv, tag: &str) -> String {
    let mut out = String::new();
    let lag = tokio::task::block_in_place(|| env.h.lag());
    out.push_str(&format!("lag: {lag:?}\n"));
    for p in worker_pods(env).await {
        let cs = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.first());
        out.push_str(&format!(
            "pod {} hash {:?}: {}\n",
            p.name_any(),
            pod_hash(&p),
            serde_json::to_string(&cs).unwrap_or_default()
        ));
    }
    for root in agent_roots(tag) {
        for pod in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let log = pod.path().join("worker.log");
            out.push_str(&format!(
                "--- {}\n{}\n",
                log.display(),
                sluice_testbed::process::log_tail(&log, 40)
            ));
        }
    }
    out
}

/// The node agent directories of this process's test `tag` (`OperatorEnv` names them `<tag>-agent-<pid>-…`).
fn agent_roots(tag: &str) -> Vec<std::path::PathBuf> {
    let prefix = format!("{tag}-agent-{}-", std::process::id());
    std::fs::read_dir(run_root())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

/// The log of a running pod's worker process (`$SLUICE_POD_ROOT/worker.log`).
fn pod_log(env: &OperatorEnv, tag: &str, pod: &str) -> String {
    agent_roots(tag)
        .iter()
        .filter_map(|r| {
            std::fs::read_to_string(r.join(format!("{}_{pod}", env.ns)).join("worker.log")).ok()
        })
        .collect()
}

/// Waits until every input record is committed; on timeout fails with [`diagnose`]'s report.
async fn wait_consumed(env: &OperatorEnv, tag: &str, what: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if tokio::task::block_in_place(|| env.h.lag()).is_ok_and(|l| l == 0) {
            return;
        }
        if Instant::now() >= deadline {
            let job = env.jobs().get(JOB_NAME).await.unwrap();
            panic!(
                "{what}: input not consumed within {timeout:?}\nstatus: {}\n{}",
                serde_json::to_string_pretty(&job.status).unwrap(),
                diagnose(env, tag).await
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn verify_exactly_once(
    env: &OperatorEnv,
    tag: &str,
    produced: u64,
    what: &str,
) -> sluice_cli::verify::VerifyReport {
    wait_consumed(env, tag, "all input consumed", Duration::from_secs(180)).await;
    let report = tokio::task::block_in_place(|| env.h.verify()).unwrap();
    assert_eq!(report.input_records, produced, "{report:#?}");
    assert_eq!(report.unprocessed_records, 0, "{report:#?}");
    assert!(report.ok(), "exactly-once violated {what}: {report:#?}");
    report
}

/// The start three scenarios share: the operator running, a 2-worker job (with `spec` merged into its
/// manifest) created, batch 0 of `input` (3 000 authorizations) produced, both workers ready and the batch
/// consumed. Returns the environment and the number of records produced.
async fn running_job(
    tag: &'static str,
    input: InputBatches,
    spec: serde_json::Value,
) -> (OperatorEnv, u64) {
    let mut env = OperatorEnv::start(tag, PARTITIONS, JOB_YAML).await;
    env.run_operator();
    env.jobs()
        .create(&PostParams::default(), &env.stream_job(2, spec))
        .await
        .unwrap();
    let produced = tokio::task::block_in_place(|| input.produce(&env.h, 0, 3_000).unwrap());
    env.wait_for("2 ready workers", Duration::from_secs(180), async |j| {
        steady(j, 2).then_some(())
    })
    .await;
    wait_consumed(&env, tag, "batch 0", Duration::from_secs(180)).await;
    (env, produced)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suspend_and_resume_restore_from_the_suspend_savepoint() {
    let started = Instant::now();
    let _serial = SERIAL.lock().await;
    let (env, mut produced) = running_job(
        SUSPEND,
        InputBatches::new(700, PARTITIONS as u32),
        serde_json::json!({}),
    )
    .await;

    // Suspend: stop-with-savepoint, then no pods.
    patch_spec(&env, serde_json::json!({"state": "suspended"})).await;
    let job = env
        .wait_for("SUSPENDED", Duration::from_secs(180), async |j| {
            (lifecycle(j) == Some(LifecycleState::Suspended) && status(j).upgrade.is_none())
                .then(|| j.clone())
        })
        .await;
    let st = status(&job);
    assert_eq!(st.parallelism, Some(0));
    assert_eq!(st.deployed_hash, None);
    let sp = st
        .savepoints
        .last()
        .expect("the suspend savepoint is in the history")
        .clone();
    assert_eq!(
        sp.trigger,
        SavepointTrigger::Suspend,
        "{:#?}",
        st.savepoints
    );
    assert!(
        sp.location
            .starts_with(&format!("s3://{}/store", env.bucket)),
        "{}",
        sp.location
    );
    assert!(
        objects_under(&env.endpoint, &sp.location).await > 0,
        "the suspend savepoint {} is empty",
        sp.location
    );
    assert!(
        worker_pods(&env).await.is_empty(),
        "SUSPENDED with worker pods left"
    );
    let ready = condition(st, "Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "Suspended")
    );

    // Input produced while suspended waits: nothing consumes it.
    produced += tokio::task::block_in_place(|| {
        InputBatches::new(700, PARTITIONS as u32)
            .produce(&env.h, 1, 2_000)
            .unwrap()
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    let lag = tokio::task::block_in_place(|| env.h.lag()).unwrap();
    assert!(lag > 0, "input was consumed while the job was suspended");
    assert!(worker_pods(&env).await.is_empty());
    assert_eq!(
        lifecycle(&env.jobs().get(JOB_NAME).await.unwrap()),
        Some(LifecycleState::Suspended)
    );

    // Resume: the same two workers come back, restored from the suspend savepoint.
    patch_spec(&env, serde_json::json!({"state": "running"})).await;
    let job = env
        .wait_for(
            "2 ready workers after resume",
            Duration::from_secs(180),
            async |j| steady(j, 2).then(|| j.clone()),
        )
        .await;
    let st = status(&job);
    assert_eq!(st.restored_from.as_deref(), Some(sp.location.as_str()));
    assert_eq!(st.savepoints.last(), Some(&sp), "{:#?}", st.savepoints);
    assert_eq!(
        env.pod_names().await,
        vec!["fraud-worker-0", "fraud-worker-1"]
    );
    assert_pods_restore_from(&env, 2, st.deployed_hash.as_deref(), &sp.location).await;
    let seen = reasons(&job_events(&env).await);
    for r in ["SuspendStarted", "SavepointCompleted", "Suspended"] {
        assert!(seen.iter().any(|s| s == r), "no {r} Event in {seen:?}");
    }

    let report = verify_exactly_once(&env, SUSPEND, produced, "across suspend and resume").await;
    common::report::record(
        "8. suspend / resume",
        "suspend with savepoint, input waits, resume from it",
        0,
        Some(&report),
        started,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spec_that_never_gets_ready_is_rolled_back_from_the_upgrade_savepoint() {
    let started = Instant::now();
    let _serial = SERIAL.lock().await;
    let mut env = OperatorEnv::start(ROLLBACK, PARTITIONS, JOB_YAML).await;
    env.run_operator();
    let rollback = serde_json::json!({"spec": {"rollback": {
        "enabled": true, "readinessTimeout": "20s", "stableAfter": "5s"}}});
    env.jobs()
        .create(&PostParams::default(), &env.stream_job(2, rollback))
        .await
        .unwrap();
    let mut produced = tokio::task::block_in_place(|| {
        InputBatches::new(800, PARTITIONS as u32)
            .produce(&env.h, 0, 3_000)
            .unwrap()
    });
    let job = env
        .wait_for("STABLE", Duration::from_secs(180), async |j| {
            (steady(j, 2) && lifecycle(j) == Some(LifecycleState::Stable)).then(|| j.clone())
        })
        .await;
    let stable_spec = status(&job).last_stable_spec.clone().unwrap();
    assert_eq!(
        status(&job).last_reconciled_spec.as_ref(),
        Some(&stable_spec)
    );
    let good_hash = status(&job).deployed_hash.clone().unwrap();
    wait_consumed(&env, ROLLBACK, "batch 0", Duration::from_secs(180)).await;

    // A change that passes admission and the operator's validation, but every worker of it exits at start:
    // librdkafka rejects the property's value when the worker creates its Kafka clients.
    let bad_generation = patch_spec(
        &env,
        serde_json::json!({"job": {"kafka": {"properties": {"socket.timeout.ms": "ten-seconds"}}}}),
    )
    .await;

    // The bad generation is deployed from an upgrade savepoint, its workers crash and never get Ready, and
    // after readinessTimeout the operator starts the rollback.
    let mut crashed = 0;
    let mut why_seen = false;
    let mut restore_from = None;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let job = env.jobs().get(JOB_NAME).await.unwrap();
        let st = status(&job);
        if let Some(up) = &st.upgrade
            && up.target_generation == bad_generation
            && let UpgradeStep::Deploying {
                restore_from: r, ..
            } = &up.step
        {
            restore_from.clone_from(r);
            for p in worker_pods(&env).await {
                if pod_hash(&p).as_deref() == Some(good_hash.as_str()) {
                    continue;
                }
                let cs = p
                    .status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .and_then(|c| c.first().cloned());
                if let Some(cs) = cs {
                    assert!(
                        !cs.ready,
                        "a worker of the bad generation got ready: {cs:#?}"
                    );
                    let exited = cs
                        .last_state
                        .as_ref()
                        .and_then(|s| s.terminated.as_ref())
                        .is_some_and(|t| t.exit_code != 0);
                    if cs.restart_count > 0 || exited {
                        crashed += 1;
                    }
                    if pod_log(&env, ROLLBACK, &p.name_any()).contains("socket.timeout.ms") {
                        why_seen = true;
                    }
                }
            }
        }
        if matches!(
            lifecycle(&job),
            Some(LifecycleState::RollingBack | LifecycleState::RolledBack)
        ) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no rollback within 180 s; status: {}",
            serde_json::to_string_pretty(&job.status).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        crashed > 0,
        "never saw a crashed worker of generation {bad_generation}"
    );
    assert!(
        why_seen,
        "no worker log of generation {bad_generation} names the rejected Kafka property"
    );
    let restore_from = restore_from.expect("the bad generation was deployed from a savepoint");

    let job = env
        .wait_for("ROLLED_BACK", Duration::from_secs(180), async |j| {
            (lifecycle(j) == Some(LifecycleState::RolledBack) && status(j).upgrade.is_none())
                .then(|| j.clone())
        })
        .await;
    let st = status(&job);
    let blocked = st.blocked_generation.as_ref().expect("blocked generation");
    assert_eq!(
        (blocked.generation, blocked.reason.as_str()),
        (bad_generation, "RolledBack")
    );
    assert_eq!(st.deployed_hash.as_deref(), Some(good_hash.as_str()));
    assert_eq!(st.last_reconciled_spec.as_ref(), Some(&stable_spec));
    assert_eq!(st.last_stable_spec.as_ref(), Some(&stable_spec));
    let sp = st.savepoints.last().expect("the upgrade savepoint");
    assert_eq!(sp.trigger, SavepointTrigger::Upgrade);
    assert_eq!(sp.location, restore_from);
    assert_eq!(st.restored_from.as_deref(), Some(restore_from.as_str()));
    let degraded = condition(st, "Degraded");
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "RolledBack")
    );
    assert_pods_restore_from(&env, 2, Some(&good_hash), &restore_from).await;
    let cm = Api::<ConfigMap>::namespaced(env.client.clone(), &env.ns)
        .get(&format!("{JOB_NAME}-config"))
        .await
        .unwrap();
    let job_yaml = &cm.data.unwrap()["job.yaml"];
    assert!(
        !job_yaml.contains("ten-seconds"),
        "the rolled-back ConfigMap still has the bad property: {job_yaml}"
    );
    let seen = reasons(&job_events(&env).await);
    for r in ["UpgradeStarted", "RollbackStarted", "RolledBack"] {
        assert!(seen.iter().any(|s| s == r), "no {r} Event in {seen:?}");
    }

    // The rolled-back job keeps processing, and the blocked generation is not tried again.
    produced += tokio::task::block_in_place(|| {
        InputBatches::new(800, PARTITIONS as u32)
            .produce(&env.h, 1, 2_000)
            .unwrap()
    });
    let report = verify_exactly_once(&env, ROLLBACK, produced, "across the rollback").await;
    common::report::record(
        "5. failed upgrade → rollback",
        "never-ready spec rolled back to the last stable spec after 20 s",
        0,
        Some(&report),
        started,
    );
    let job = env.jobs().get(JOB_NAME).await.unwrap();
    assert_eq!(lifecycle(&job), Some(LifecycleState::RolledBack));
    assert_eq!(
        status(&job).deployed_hash.as_deref(),
        Some(good_hash.as_str())
    );
}

/// Instances that reported the job's Events with `reason` (all reasons when None).
async fn reporters(env: &OperatorEnv, reason: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = job_events(env)
        .await
        .into_iter()
        .filter(|e| reason.is_none_or(|r| e.reason.as_deref() == Some(r)))
        .map(|e| e.reporting_instance.unwrap_or_default())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_operator_takes_over_the_lease_and_rolls_out_the_next_change() {
    let started = Instant::now();
    let _serial = SERIAL.lock().await;
    let env = OperatorEnv::start(FAILOVER, PARTITIONS, JOB_YAML).await;
    let dir = run_root().join(unique_name("oplc-lead-operators"));
    std::fs::create_dir_all(&dir).unwrap();
    let lease = unique_name("sluice-operator");
    let mut ops = vec![
        start_operator(&env, &dir, "operator-a", &lease),
        start_operator(&env, &dir, "operator-b", &lease),
    ];

    // Exactly one holds the Lease, and it stays that way over several renewals.
    let (leader, transitions) =
        wait_sole_leader(&env, &lease, &mut ops, None, Duration::from_secs(60)).await;
    let leader_id = ops[leader].identity;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let again = wait_sole_leader(
            &env,
            &lease,
            &mut ops,
            Some(leader_id),
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(again, (leader, transitions));
    }
    let follower = 1 - leader;
    let follower_id = ops[follower].identity;
    eprintln!("leader {leader_id}, follower {follower_id}");

    env.jobs()
        .create(
            &PostParams::default(),
            &env.stream_job(2, serde_json::json!({})),
        )
        .await
        .unwrap();
    let mut produced = tokio::task::block_in_place(|| {
        InputBatches::new(900, PARTITIONS as u32)
            .produce(&env.h, 0, 3_000)
            .unwrap()
    });
    env.wait_for("2 ready workers", Duration::from_secs(180), async |j| {
        steady(j, 2).then_some(())
    })
    .await;
    wait_consumed(&env, FAILOVER, "batch 0", Duration::from_secs(180)).await;
    // Only the leader reconciled.
    assert_eq!(reporters(&env, None).await, vec![leader_id.to_string()]);

    // SIGKILL the leader: no chance to release anything. The follower takes over once the Lease expires.
    ops[leader].process.kill();
    ops[leader].killed = true;
    let killed = Instant::now();
    let (now_leading, new_transitions) = wait_sole_leader(
        &env,
        &lease,
        &mut ops,
        Some(follower_id),
        Duration::from_secs(40),
    )
    .await;
    let takeover = killed.elapsed();
    eprintln!("{follower_id} took over the Lease {takeover:?} after the SIGKILL");
    assert_eq!(now_leading, follower);
    assert_eq!(new_transitions, transitions + 1);
    assert!(
        takeover <= Duration::from_secs(25),
        "takeover took {takeover:?} (lease 15 s, renewal every 5 s)"
    );
    // The workers do not depend on the operator: the job kept its pods.
    assert_eq!(
        env.pod_names().await,
        vec!["fraud-worker-0", "fraud-worker-1"]
    );

    // The new leader rolls out the next spec change: rescale 2 → 3 through a savepoint.
    patch_spec(&env, serde_json::json!({"parallelism": 3})).await;
    let job = env
        .wait_for("3 ready workers", Duration::from_secs(300), async |j| {
            steady(j, 3).then(|| j.clone())
        })
        .await;
    let st = status(&job);
    let sp = st.savepoints.last().expect("the rescale savepoint");
    assert_eq!(sp.trigger, SavepointTrigger::Upgrade);
    assert_eq!(st.restored_from.as_deref(), Some(sp.location.as_str()));
    assert_eq!(
        env.pod_names().await,
        vec!["fraud-worker-0", "fraud-worker-1", "fraud-worker-2"]
    );
    assert_pods_restore_from(&env, 3, st.deployed_hash.as_deref(), &sp.location).await;
    assert_eq!(
        reporters(&env, Some("UpgradeStarted")).await,
        vec![follower_id.to_string()]
    );

    produced += tokio::task::block_in_place(|| {
        InputBatches::new(900, PARTITIONS as u32)
            .produce(&env.h, 1, 2_000)
            .unwrap()
    });
    let report =
        verify_exactly_once(&env, FAILOVER, produced, "across the operator failover").await;
    common::report::record(
        "operator leader SIGKILLed (two operator processes)",
        "Lease taken over; next rescale rolled out by the new leader",
        1,
        Some(&report),
        started,
    );
    ops[follower].process.check_alive().unwrap();
    drop(ops);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Savepoint directories `s3://bucket/store/<prefix>/savepoints/<id>` whose id starts with `id_prefix`.
async fn savepoints_named(env: &OperatorEnv, id_prefix: &str) -> Vec<String> {
    let prefix = format!(
        "store/{}/savepoints/{id_prefix}",
        env.h.job.transactional_id_prefix
    );
    let listed = s3_client(&env.endpoint)
        .list_objects_v2()
        .bucket(&env.bucket)
        .prefix(&prefix)
        .send()
        .await
        .unwrap();
    let mut dirs: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .filter_map(|k| {
            let rest = k.strip_prefix(&prefix)?;
            let id = rest.split('/').next()?;
            Some(format!(
                "s3://{}/store/{}/savepoints/{id_prefix}{id}",
                env.bucket, env.h.job.transactional_id_prefix
            ))
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_with_a_final_savepoint_and_recreate_from_it() {
    let started = Instant::now();
    let _serial = SERIAL.lock().await;
    let final_savepoint = serde_json::json!({"spec": {"deletion": {"finalSavepoint": true}}});
    let (env, mut produced) = running_job(
        FINAL,
        InputBatches::new(300, PARTITIONS as u32),
        final_savepoint.clone(),
    )
    .await;

    // Delete: the finalizer stops every worker with one savepoint before the pods go.
    env.jobs()
        .delete(JOB_NAME, &Default::default())
        .await
        .unwrap();
    env.wait_pods_gone(Duration::from_secs(120)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.jobs().get_opt(JOB_NAME).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the job was not deleted");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let finals = savepoints_named(&env, "sp-final-").await;
    assert_eq!(finals.len(), 1, "one final savepoint: {finals:?}");
    let location = finals[0].clone();
    assert!(objects_under(&env.endpoint, &location).await > 0);
    assert!(
        reasons(&job_events(&env).await).contains(&"FinalSavepoint".to_string()),
        "no FinalSavepoint Event"
    );

    // Input keeps arriving while the job does not exist; a new job started from the final savepoint picks up
    // exactly where the deleted one stopped.
    produced += tokio::task::block_in_place(|| {
        InputBatches::new(300, PARTITIONS as u32)
            .produce(&env.h, 1, 2_000)
            .unwrap()
    });
    let recreate = serde_json::json!({"spec": {"initialSavepointPath": location}});
    env.jobs()
        .create(&PostParams::default(), &env.stream_job(2, recreate))
        .await
        .unwrap();
    let job = env
        .wait_for("the re-created job", Duration::from_secs(180), async |j| {
            steady(j, 2).then(|| j.clone())
        })
        .await;
    assert_eq!(
        status(&job).restored_from.as_deref(),
        Some(location.as_str())
    );
    let report = verify_exactly_once(&env, FINAL, produced, "across delete and re-create").await;
    common::report::record(
        "8. delete with final savepoint, re-create from it",
        "final savepoint on delete; new job from it",
        0,
        Some(&report),
        started,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_last_state_upgrade_recovers_from_checkpoints_without_a_savepoint() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let (env, mut produced) = running_job(
        LAST_STATE,
        InputBatches::new(600, PARTITIONS as u32),
        serde_json::json!({}),
    )
    .await;
    // Let a checkpoint cover the batch (interval 1 s), so the new workers have state to download.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // last-state: the pods are deleted without asking them for anything; the new layout (3 workers, other
    // partitions per worker, empty disks) restores each partition from its latest checkpoint in S3 and
    // replays the committed rest from the progress log.
    patch_spec(
        &env,
        serde_json::json!({"upgradeMode": "last-state", "parallelism": 3}),
    )
    .await;
    let job = env
        .wait_for("3 ready workers", Duration::from_secs(300), async |j| {
            steady(j, 3).then(|| j.clone())
        })
        .await;
    assert!(
        status(&job).savepoints.is_empty(),
        "a last-state upgrade takes no savepoint: {:?}",
        status(&job).savepoints
    );
    produced += tokio::task::block_in_place(|| {
        InputBatches::new(600, PARTITIONS as u32)
            .produce(&env.h, 1, 2_000)
            .unwrap()
    });
    let report =
        verify_exactly_once(&env, LAST_STATE, produced, "across a last-state rescale").await;
    common::report::record(
        "last-state rescale 2 → 3 (no savepoint)",
        "pods deleted; state from the latest checkpoints + replay",
        0,
        Some(&report),
        started,
    );
}
