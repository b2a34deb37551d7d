#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The fault campaign under the operator (issue 8, scenario 4), with real parts only: private Kafka and S3
//! servers this test may kill, the local kube-apiserver, the node agent running `sluice-worker` pods, and two
//! `sluice-operator` processes electing a leader through a Lease. Each phase runs under load from the
//! generator and ends with `sluice verify` (every authorization exactly one decision, equal to the oracle):
//! 1. SIGKILLs of random worker processes at random times (the node agent restarts them in place);
//! 2. the Kafka broker killed and restarted;
//! 3. the S3 server stopped (checkpoints fail, processing and commits continue) and restarted;
//! 4. a rescale during which the operator leader dies in *every* upgrade phase (crash points after each
//!    persisted step; the other replica takes over the Lease and resumes the upgrade where it stopped).
//!
//! `SLUICE_CAMPAIGN=full` runs the full sizes (≥ 50 worker kills, a 60 s S3 outage); the default is a
//! shortened campaign that fits CI. The summary table is printed and written to `campaign-summary.md` in the
//! run directory.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::operators::{
    OperatorProcess, UPGRADE_STEPS, crash_after_each_step, start_operator_with, step_marker,
};
use common::report::{Row, table};
use common::{OperatorEnv, steady};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use sluice_cli::verify::VerifyReport;
use sluice_generator::GeneratorConfig;
use sluice_testbed::cache::run_root;
use sluice_testbed::job_harness::JobHarness;
use sluice_testbed::rng::Lcg;
use sluice_testbed::{TestBed, unique_name};

const PARTITIONS: i32 = 4;
const JOB_YAML: &str = "commitInterval: 100ms\ncommitMaxRecords: 500\nstate:\n  checkpointInterval: 2s\n  retainedCheckpoints: 2\n  blockCacheMib: 16\n  writeBufferMib: 16\n  tolerableFailedCheckpoints: 1000\n";

struct Profile {
    worker_kills: u32,
    s3_outage: Duration,
    /// Authorizations per phase, produced at `rate` input records per second.
    authorizations: u64,
    rate: u32,
}

fn profile() -> Profile {
    if std::env::var("SLUICE_CAMPAIGN").as_deref() == Ok("full") {
        Profile {
            worker_kills: 60,
            s3_outage: Duration::from_secs(60),
            authorizations: 20_000,
            rate: 300,
        }
    } else {
        Profile {
            worker_kills: 12,
            s3_outage: Duration::from_secs(20),
            authorizations: 4_000,
            rate: 250,
        }
    }
}

/// Load for one phase, on its own thread: `authorizations` at `rate` records/s, event time continuing from
/// the previous phase.
fn start_load(h: &JobHarness, phase: u64, p: &Profile) -> std::thread::JoinHandle<u64> {
    let (bootstrap, topics) = (h.bootstrap.clone(), h.job.topics.clone());
    let (authorizations, rate) = (p.authorizations, p.rate);
    std::thread::spawn(move || {
        let g = GeneratorConfig {
            seed: 7_000 + phase,
            cards: 1_000,
            partitions: PARTITIONS as u32,
            authorizations,
            events_per_second: 400,
            malformed_per_mille: 3,
            start_time_ms: GeneratorConfig::default().start_time_ms + phase as i64 * 3_600_000,
            ..GeneratorConfig::default()
        };
        sluice_cli::produce::produce(&bootstrap, &topics, g, rate, |_| {})
            .unwrap()
            .records
    })
}

/// Waits for the phase's load and its processing, then verifies everything produced so far.
async fn finish_phase(
    env: &OperatorEnv,
    load: std::thread::JoinHandle<u64>,
    produced: &mut u64,
    parallelism: i32,
) -> VerifyReport {
    *produced += tokio::task::block_in_place(|| load.join().unwrap());
    env.wait_for("the job to settle", Duration::from_secs(300), async |j| {
        steady(j, parallelism).then_some(())
    })
    .await;
    env.wait_consumed("the phase's input consumed", Duration::from_secs(300))
        .await;
    let report = tokio::task::block_in_place(|| env.h.verify()).unwrap();
    assert_eq!(report.input_records, *produced);
    assert_eq!(report.unprocessed_records, 0);
    assert!(report.ok(), "exactly-once violated: {report:#?}");
    report
}

/// The process ids of the job's running worker pods (the node agent reports them as container ids).
async fn worker_pids(env: &OperatorEnv) -> Vec<(String, i32)> {
    let pods = env
        .pods()
        .list(&ListParams::default().labels("sluice.dev/job=fraud"))
        .await
        .unwrap();
    pods.items
        .iter()
        .filter_map(|p: &Pod| {
            let cs = p.status.as_ref()?.container_statuses.as_ref()?.first()?;
            cs.state.as_ref()?.running.as_ref()?;
            let pid = cs
                .container_id
                .as_deref()?
                .strip_prefix("sluice-node-agent://")?
                .parse()
                .ok()?;
            Some((p.metadata.name.clone()?, pid))
        })
        .collect()
}

/// SIGKILL; a stale pid only makes it fail.
fn sigkill(pid: i32) -> bool {
    u32::try_from(pid).is_ok_and(|pid| sluice_testbed::binaries::signal(pid, "-KILL"))
}

fn operators(env: &OperatorEnv, dir: &Path, lease: &str, crash: &str) -> Vec<OperatorProcess> {
    ["operator-a", "operator-b"]
        .into_iter()
        .map(|id| {
            start_operator_with(
                env,
                dir,
                id,
                lease,
                &[(sluice_crds::crash_point::ENV, crash.to_string())],
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_under_the_operator_lose_and_duplicate_nothing() {
    let p = profile();
    let bed = tokio::task::block_in_place(TestBed::private_kafka_and_s3).unwrap();
    let mut env = OperatorEnv::start_on(bed, "opfault", PARTITIONS, JOB_YAML).await;
    let dir = run_root().join(unique_name("opfault-run"));
    std::fs::create_dir_all(&dir).unwrap();
    let lease = unique_name("sluice-operator");
    let crash = crash_after_each_step(&dir);
    // A crash point fires only for the process that creates its marker file: with the markers present the
    // operators run normally (the initial deployment passes the same steps); phase 4 removes them to arm.
    for s in UPGRADE_STEPS {
        std::fs::write(step_marker(&dir, s), "disarmed").unwrap();
    }
    let mut ops = operators(&env, &dir, &lease, &crash);
    let restart_policy = serde_json::json!({"spec": {"restartPolicy": {
        "backoffInitial": "1s", "backoffMax": "4s", "maxRestarts": 1000, "window": "1h"}}});
    env.jobs()
        .create(&PostParams::default(), &env.stream_job(2, restart_policy))
        .await
        .unwrap();
    let mut rng = Lcg(20_261_126);
    let mut produced = 0u64;
    let mut rows = Vec::new();

    // 1. Worker SIGKILLs at random times, under load.
    env.wait_for("2 ready workers", Duration::from_secs(240), async |j| {
        steady(j, 2).then_some(())
    })
    .await;
    let started = Instant::now();
    let load = start_load(&env.h, 1, &p);
    let mut kills = 0;
    while kills < p.worker_kills {
        tokio::time::sleep(Duration::from_millis(700 + rng.below(2_300))).await;
        let pids = worker_pids(&env).await;
        if pids.is_empty() {
            continue;
        }
        let (_, pid) = &pids[rng.below(pids.len() as u64) as usize];
        kills += u32::from(sigkill(*pid));
    }
    let report = finish_phase(&env, load, &mut produced, 2).await;
    rows.push(Row {
        scenario: "worker processes SIGKILLed at random times".into(),
        events: format!("{kills} SIGKILLs"),
        kills,
        verified: Some(report.figures()),
        seconds: started.elapsed().as_secs_f64(),
    });

    // 2. The Kafka broker dies and comes back (same ports, same data).
    let started = Instant::now();
    let load = start_load(&env.h, 2, &p);
    tokio::time::sleep(Duration::from_secs(4)).await;
    tokio::task::block_in_place(|| {
        let broker = env.bed.kafka_broker().expect("a private broker");
        broker.stop();
        std::thread::sleep(Duration::from_secs(5));
        broker.start_again().unwrap();
    });
    let report = finish_phase(&env, load, &mut produced, 2).await;
    rows.push(Row {
        scenario: "Kafka broker killed and restarted".into(),
        events: "1 broker restart (5 s down)".into(),
        kills: 1,
        verified: Some(report.figures()),
        seconds: started.elapsed().as_secs_f64(),
    });

    // 3. The S3 server is down for a while: checkpoints fail, processing and commits continue.
    let started = Instant::now();
    let load = start_load(&env.h, 3, &p);
    tokio::task::block_in_place(|| {
        let s3 = env.bed.s3_server().expect("a private S3 server");
        s3.stop();
        std::thread::sleep(p.s3_outage);
        s3.start_again().unwrap();
    });
    let report = finish_phase(&env, load, &mut produced, 2).await;
    rows.push(Row {
        scenario: "S3 server stopped".into(),
        events: format!("{} s outage", p.s3_outage.as_secs()),
        kills: 1,
        verified: Some(report.figures()),
        seconds: started.elapsed().as_secs_f64(),
    });

    // 4. A rescale 2 → 3 during which the leader dies right after persisting each upgrade step; a dead
    // operator is restarted (still armed: each crash point fires once, across both processes).
    let started = Instant::now();
    let load = start_load(&env.h, 4, &p);
    for s in UPGRADE_STEPS {
        std::fs::remove_file(step_marker(&dir, s)).unwrap();
    }
    let scale = serde_json::json!({"spec": {"parallelism": 3}});
    env.jobs()
        .patch(
            common::JOB_NAME,
            &PatchParams::default(),
            &Patch::Merge(&scale),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut leader_kills = 0;
    loop {
        for (i, op) in ops.iter_mut().enumerate() {
            if op.process.try_exit().is_some() {
                leader_kills += 1;
                // The replacement gets a new identity, as a Deployment's new pod gets a new name: it cannot
                // resume the dead leader's Lease, so the other replica or it takes over after expiry.
                let id: &'static str = Box::leak(format!("operator-{}", leader_kills + 2).into());
                eprintln!(
                    "operator {} died at a crash point; starting {id}",
                    op.identity
                );
                ops[i] = start_operator_with(
                    &env,
                    &dir,
                    id,
                    &lease,
                    &[(sluice_crds::crash_point::ENV, crash.clone())],
                );
                break;
            }
        }
        let job = env.jobs().get(common::JOB_NAME).await.unwrap();
        if steady(&job, 3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rescale did not finish; status: {}",
            serde_json::to_string_pretty(&job.status).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let crashed: Vec<&str> = UPGRADE_STEPS
        .iter()
        .copied()
        .filter(|s| step_marker(&dir, s).exists())
        .collect();
    assert_eq!(
        crashed, UPGRADE_STEPS,
        "the leader must have died in every upgrade step"
    );
    assert_eq!(leader_kills, UPGRADE_STEPS.len());
    let report = finish_phase(&env, load, &mut produced, 3).await;
    rows.push(Row {
        scenario: "operator leader killed in every upgrade phase (rescale 2 → 3)".into(),
        events: crashed.join(", "),
        kills: leader_kills as u32,
        verified: Some(report.figures()),
        seconds: started.elapsed().as_secs_f64(),
    });

    for r in &rows {
        r.record();
    }
    let summary = table(&rows);
    eprintln!("{summary}");
    std::fs::write(dir.join("campaign-summary.md"), &summary).unwrap();
    for op in &mut ops {
        op.process.check_alive().unwrap();
    }
}
