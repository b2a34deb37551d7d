//! The autoscaler and the services' outages on real pods. A one-worker job over 4 partitions carries a quiet
//! batch (the autoscaler holds, `WithinTarget`); a burst builds a lag one worker cannot work off within the
//! catch-up time, so the operator, scraping the worker pods' control API over the bridge, writes a `ScaleUp`
//! decision and rolls it out as a savepoint upgrade. With the autoscaler switched off again, the Kafka broker
//! is killed and restarted (5 s down) and the S3 server stopped for 20 s (checkpoint uploads fail, processing
//! and commits go on) while paced input arrives. `sluice verify` then finds every decision exactly once.

use std::time::{Duration, Instant};

use sluice_core::model::FRAUD_V1_YAML;
use sluice_testbed::autoscale::{LAG_BURST_INPUT, fast_autoscaler_annotations};
use sluice_testbed::example::{Localization, localize};
use sluice_testbed::input::InputBatches;
use sluice_testbed::job_harness::JobHarness;
use sluice_testbed::services::node::RealCluster;
use sluice_testbed::{KafkaBroker, S3Server};

use super::{
    apply_ok, assert_event, example_namespace, kubectl_jsonpath, kubectl_ok, wait_consumed,
    wait_for, wait_pods_gone,
};

const PARTITIONS: u32 = 4;
const INPUT: InputBatches = LAG_BURST_INPUT;

/// The services the job's pods use, owned by the caller (the broker and the S3 server are restarted here).
pub struct Services<'a> {
    pub kafka: &'a mut KafkaBroker,
    pub s3: &'a mut S3Server,
    pub bucket: &'a str,
}

pub fn autoscaler_and_outages(
    cluster: &RealCluster,
    worker_image: &str,
    services: Services<'_>,
    dir: &std::path::Path,
) {
    let started = Instant::now();
    let bootstrap = services.kafka.bootstrap();
    let endpoint = services.s3.endpoint();
    let h = JobHarness::new(&bootstrap, &dir.join("scale"), PARTITIONS as i32, "").unwrap();
    let ns = example_namespace(cluster, "scale", &h.token, FRAUD_V1_YAML);
    let local = Localization {
        name: "fraud",
        namespace: &ns,
        image: worker_image,
        job: &h.job,
        bootstrap: &bootstrap,
        bucket: services.bucket,
        s3_endpoint: &endpoint,
    };
    apply_ok(cluster, &ns, &job_manifest(&local));

    let sj = "streamjob/fraud";
    let mut produced = produce(&h, 0, 500, 2_000);
    wait_steady(cluster, &ns, |p| p == 1);
    wait_consumed(&h);
    let reason = "{.status.autoscaler.current.reason}";
    let limit = Duration::from_secs(120);
    wait_for(cluster, &ns, sj, reason, limit, |r| r == "WithinTarget");
    let decided = "{.status.autoscaler.lastDecision.reason}";
    assert_eq!(kubectl_jsonpath(cluster, &ns, sj, decided), "");

    // The burst: far more than one worker works off within the 2 s catch-up time.
    produced += produce(&h, 1, 5_000, 100_000);
    let limit = Duration::from_secs(240);
    wait_for(cluster, &ns, sj, decided, limit, |r| r == "ScaleUp");
    let to: i64 = kubectl_jsonpath(cluster, &ns, sj, "{.status.autoscaler.lastDecision.to}")
        .parse()
        .unwrap();
    assert!(to == 2 || to == 4, "4 partitions align to 2 or 4 workers");
    assert_event(cluster, &ns, "AutoscalerScaleUp", &format!("1 → {to}"));
    wait_steady(cluster, &ns, |p| p == to);
    let savepoint = kubectl_jsonpath(cluster, &ns, sj, "{.status.savepoints[-1:].location}");
    let restored = kubectl_jsonpath(cluster, &ns, sj, "{.status.restoredFrom}");
    assert!(savepoint.starts_with("s3://"), "{savepoint}");
    assert_eq!(restored, savepoint, "the rescale restored its savepoint");
    wait_consumed(&h);
    let report = h.verify().unwrap();
    assert!(report.ok(), "{report:#?}");
    let events = format!("ScaleUp 1 → {to} from a 100,000-authorization burst");
    let scenario = "3r. autoscaler on a lag burst, on the real node";
    crate::common::report::record(scenario, events, 0, Some(&report), started);

    // The outages: no autoscaling from here on (their lag is not a load change).
    let started = Instant::now();
    let off = ["annotate", sj, "sluice.dev/autoscale=false", "--overwrite"];
    kubectl_ok(cluster, &[&["-n", ns.as_str()][..], &off[..]].concat());
    let paced = InputBatches {
        send_rate: 600,
        ..INPUT
    };
    let load = {
        let h = h.clone();
        std::thread::spawn(move || paced.produce(&h, 2, 6_000).unwrap())
    };
    std::thread::sleep(Duration::from_secs(4));
    services.kafka.stop();
    std::thread::sleep(Duration::from_secs(5));
    services.kafka.start_again().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    services.s3.stop();
    std::thread::sleep(Duration::from_secs(20));
    services.s3.start_again().unwrap();
    produced += load.join().unwrap();
    wait_steady(cluster, &ns, |p| p == to);
    wait_consumed(&h);
    let report = h.verify().unwrap();
    assert_eq!(report.input_records, produced, "{report:#?}");
    assert_eq!(report.unprocessed_records, 0, "{report:#?}");
    assert!(report.ok(), "{report:#?}");
    assert!(report.actual_dlq > 0, "no malformed record in the DLQ");
    let events = format!("{to} worker pods at 600 records/s: the broker down 5 s, S3 down 20 s");
    let scenario = "4r. broker restart and S3 outage, on the real node";
    crate::common::report::record(scenario, events, 2, Some(&report), started);

    kubectl_ok(cluster, &["-n", &ns, "delete", sj, "--timeout=60s"]);
    wait_pods_gone(cluster, &ns);
}

/// The example as a one-worker job over 4 partitions with the autoscaler on, its windows short so the test
/// takes seconds, not the production minutes (scale-down held for an hour: only the burst's decision
/// happens); checkpoints every 5 s so the S3 outage fails some, tolerated; a restart budget the outages
/// cannot exhaust.
fn job_manifest(local: &Localization<'_>) -> String {
    let mut doc = localize(local);
    doc["spec"]["parallelism"] = 1.into();
    doc["spec"]["partitions"] = PARTITIONS.into();
    doc["spec"]["deletion"]["finalSavepoint"] = false.into();
    doc["spec"]["job"]["state"]["checkpointInterval"] = "5s".into();
    doc["spec"]["job"]["state"]["tolerableFailedCheckpoints"] = 100.into();
    doc["spec"]["restartPolicy"]["maxRestarts"] = 100.into();
    let annotations = fast_autoscaler_annotations();
    doc["metadata"]["annotations"] = serde_norway::to_value(annotations).unwrap();
    serde_norway::to_string(&doc).unwrap()
}

fn produce(h: &JobHarness, batch: u64, cards: u64, authorizations: u64) -> u64 {
    InputBatches { cards, ..INPUT }
        .produce(h, batch, authorizations)
        .unwrap()
}

/// Waits up to 5 minutes until the job runs with a parallelism `ok` accepts.
fn wait_steady(cluster: &RealCluster, ns: &str, ok: impl Fn(i64) -> bool) {
    let steady = "{.status.lifecycleState}/{.status.parallelism}";
    let limit = Duration::from_secs(300);
    wait_for(cluster, ns, "streamjob/fraud", steady, limit, |v| {
        let (state, parallelism) = v.split_once('/').unwrap_or_default();
        matches!(state, "RUNNING" | "STABLE") && parallelism.parse().is_ok_and(&ok)
    });
}
