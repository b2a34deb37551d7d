//! The checkpoint benchmark's view of a running worker: a triggered checkpoint measured through the control
//! API and the metrics endpoint, and the worker's `GET /v1/status`.

use std::time::{Duration, Instant};

use sluice_api::control_client::ControlClient;
use sluice_crds::control::SnapshotState;

use super::checkpoint_report::CheckpointMeasure;
use super::prom::Scrape;
use super::recovery::runtime;
use sluice_testbed::TestBedError;
use sluice_testbed::job_harness::{JobHarness, RunningWorker};

/// Triggers a checkpoint and measures it: the pause and local cut from the metrics' histogram deltas over the
/// trigger, duration and bytes from `lastCheckpoint` of `GET /v1/status`. Fails when the checkpoint fails,
/// the worker dies, or it does not complete within `timeout`.
pub fn trigger_and_measure(
    h: &JobHarness,
    w: &mut RunningWorker,
    timeout: Duration,
) -> Result<CheckpointMeasure, TestBedError> {
    let rt = runtime()?;
    let c = ControlClient::new(&w.control_url, Some(h.token.clone()));
    let env = |e: sluice_api::control_client::ClientError| TestBedError::Env(e.to_string());
    let before = Scrape::get(&w.metrics_url)?;
    let started = Instant::now();
    let id = rt.block_on(c.trigger_checkpoint()).map_err(env)?.id;
    let info = loop {
        let st = rt.block_on(c.status()).map_err(env)?;
        if let Some(cp) = st.last_checkpoint.filter(|cp| cp.id == id) {
            break cp;
        }
        w.process.check_alive()?;
        if started.elapsed() > timeout {
            return Err(TestBedError::Env(format!(
                "checkpoint {id} did not complete"
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    if info.state != SnapshotState::Completed {
        return Err(TestBedError::Env(format!(
            "checkpoint {id} failed: {info:?}"
        )));
    }
    let after = Scrape::get(&w.metrics_url)?;
    let pause = after
        .histogram("sluice_checkpoint_pause_seconds", "")
        .since(before.histogram("sluice_checkpoint_pause_seconds", ""));
    let cut = after
        .histogram("sluice_checkpoint_local_seconds", "")
        .since(before.histogram("sluice_checkpoint_local_seconds", ""));
    let uploaded = |s: &Scrape| {
        s.value(
            "sluice_checkpoint_uploaded_bytes_total",
            "kind=\"checkpoint\"",
        )
        .unwrap_or(0.0)
    };
    Ok(CheckpointMeasure {
        id,
        pause_ms: pause.sum / pause.count.max(1.0) * 1000.0,
        local_cut_ms: cut.sum / cut.count.max(1.0) * 1000.0,
        pauses: pause.count,
        duration_ms: info.duration_ms.unwrap_or(0),
        wall_ms,
        uploaded_bytes: info.uploaded_bytes,
        state_bytes: info.state_bytes,
        uploaded_bytes_metric: uploaded(&after) - uploaded(&before),
    })
}

/// `GET /v1/status` of `w`.
pub fn status(
    h: &JobHarness,
    w: &RunningWorker,
) -> Result<sluice_crds::control::WorkerStatus, TestBedError> {
    let c = ControlClient::new(&w.control_url, Some(h.token.clone()));
    runtime()?
        .block_on(c.status())
        .map_err(|e| TestBedError::Env(e.to_string()))
}
