#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The autoscaler with real parts: Kafka, the S3 server, the local kube-apiserver, the node agent running
//! `sluice-worker` pods and the operator's controller. A one-worker job with `sluice.dev/autoscale*`
//! annotations first holds under a quiet load; then a burst of records builds a lag that one worker cannot
//! work off within the catch-up time, the autoscaler raises `spec.parallelism` (decision and figures in
//! `status.autoscaler`, an Event), the operator rolls it out as a savepoint upgrade, and `sluice verify`
//! finds every decision exactly once.

mod common;

use std::time::Duration;

use common::{JOB_NAME, OperatorEnv, steady};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use sluice_crds::autoscaler::AutoscalerReason;
use sluice_testbed::autoscale::{LAG_BURST_INPUT, fast_autoscaler_annotations};
use sluice_testbed::input::InputBatches;
use sluice_testbed::job_harness::JobHarness;

const PARTITIONS: i32 = 4;
const INPUT: InputBatches = LAG_BURST_INPUT;

fn produce(h: &JobHarness, batch: u64, cards: u64, authorizations: u64) -> u64 {
    InputBatches { cards, ..INPUT }
        .produce(h, batch, authorizations)
        .unwrap()
}
const JOB_YAML: &str = "commitInterval: 100ms\ncommitMaxRecords: 500\nstate:\n  checkpointInterval: 2s\n  retainedCheckpoints: 2\n  blockCacheMib: 16\n  writeBufferMib: 16\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lag_burst_scales_up_through_a_savepoint_with_exactly_once() {
    let started = std::time::Instant::now();
    let mut env = OperatorEnv::start("opscale", PARTITIONS, JOB_YAML).await;
    env.run_operator();
    // Short windows so the test takes seconds, not the production minutes; scale-down is held for an hour so
    // only the burst's decision happens here.
    let annotations =
        serde_json::json!({"metadata": {"annotations": fast_autoscaler_annotations()}});
    env.jobs()
        .create(&PostParams::default(), &env.stream_job(1, annotations))
        .await
        .unwrap();

    // A quiet start: one worker carries it and the autoscaler says so once its window is full.
    let mut produced = tokio::task::block_in_place(|| produce(&env.h, 0, 500, 2_000));
    env.wait_for("1 ready worker", Duration::from_secs(180), async |j| {
        steady(j, 1).then_some(())
    })
    .await;
    env.wait_consumed("the quiet batch consumed", Duration::from_secs(180))
        .await;
    let holding = env
        .wait_for(
            "the autoscaler to hold within target",
            Duration::from_secs(120),
            async |j| {
                let a = j.status.as_ref()?.autoscaler.as_ref()?;
                let c = a.current.as_ref()?;
                (c.reason == AutoscalerReason::WithinTarget).then(|| a.clone())
            },
        )
        .await;
    assert!(holding.enabled);
    let job = env.jobs().get(JOB_NAME).await.unwrap();
    let cond = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Autoscaling"))
        .expect("the Autoscaling condition");
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("True", "Enabled")
    );
    assert!(holding.last_decision.is_none(), "{holding:#?}");
    assert_eq!(env.jobs().get(JOB_NAME).await.unwrap().spec.parallelism, 1);

    // The burst: far more than one worker can work off within the 2 s catch-up time.
    produced += tokio::task::block_in_place(|| produce(&env.h, 1, 5_000, 200_000));
    let decided = env
        .wait_for(
            "the autoscaler's scale-up",
            Duration::from_secs(240),
            async |j| {
                j.status
                    .as_ref()?
                    .autoscaler
                    .as_ref()?
                    .last_decision
                    .clone()
            },
        )
        .await;
    eprintln!("autoscaler decision: {}", decided.message);
    assert_eq!(decided.reason, AutoscalerReason::ScaleUp, "{decided:#?}");
    assert_eq!(decided.from, 1);
    assert!(
        decided.to == 2 || decided.to == 4,
        "4 partitions align to 2 or 4 workers: {decided:#?}"
    );
    assert!(decided.metrics.lag > 0, "{decided:#?}");
    assert!(decided.metrics.true_rate_per_worker > 0.0, "{decided:#?}");
    assert!(decided.metrics.required_rate > 0.0, "{decided:#?}");
    let to = decided.to;

    // The operator rolls the new parallelism out as a savepoint upgrade.
    let job = env
        .wait_for(
            "the autoscaled parallelism to run",
            Duration::from_secs(300),
            async |j| steady(j, to).then(|| j.clone()),
        )
        .await;
    assert_eq!(job.spec.parallelism, to);
    let status = job.status.unwrap();
    let sp = status
        .savepoints
        .last()
        .expect("the rescale went through a savepoint");
    assert_eq!(status.restored_from.as_deref(), Some(sp.location.as_str()));
    assert_eq!(env.pod_names().await.len(), to as usize);
    let events: Api<Event> = Api::namespaced(env.client.clone(), &env.ns);
    let scale_ups: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("AutoscalerScaleUp"))
        .filter_map(|e| e.note)
        .collect();
    assert_eq!(scale_ups.len(), 1, "{scale_ups:?}");
    assert!(scale_ups[0].contains(&format!("1 → {to}")), "{scale_ups:?}");

    env.wait_consumed("the burst consumed", Duration::from_secs(300))
        .await;
    let report = tokio::task::block_in_place(|| env.h.verify()).unwrap();
    assert_eq!(report.input_records, produced);
    assert_eq!(report.unprocessed_records, 0);
    assert!(
        report.ok(),
        "exactly-once violated across the autoscaler's rescale: {report:#?}"
    );
    common::report::record(
        "3. autoscaler on a lag burst",
        format!("ScaleUp 1 → {to} from a 200,000-authorization burst"),
        0,
        Some(&report),
        started,
    );
    // Scale-down is stabilized for an hour: the decision stays the only one.
    let last = env.jobs().get(JOB_NAME).await.unwrap();
    let a = last.status.unwrap().autoscaler.unwrap();
    assert_eq!(a.last_decision.as_ref().map(|d| d.to), Some(to));
}
