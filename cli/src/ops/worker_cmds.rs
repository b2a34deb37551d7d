//! `sluice status` and `sluice savepoint`: talk to workers' control APIs.

use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sluice_api::control::{SnapshotInfo, SnapshotState};

use super::table::render;
use super::{OpsError, human_bytes};
use sluice_api::control_client::{ControlClient, JobTls};

/// How to reach the workers: the bearer token, and (for workers serving their job's control certificate)
/// the CA bundle and the job whose certificate they must present.
#[derive(Default)]
pub struct Connect {
    pub token: Option<String>,
    /// (CA bundle PEM, namespace, job name).
    pub job_tls: Option<(Vec<u8>, String, String)>,
}

impl Connect {
    fn client(&self, url: &str) -> Result<ControlClient, OpsError> {
        match &self.job_tls {
            None => Ok(ControlClient::new(url, self.token.clone())),
            Some((ca_pem, namespace, job)) => {
                let tls = JobTls {
                    ca_pem,
                    namespace,
                    job,
                };
                Ok(ControlClient::for_job_worker(
                    url,
                    self.token.clone(),
                    &tls,
                )?)
            }
        }
    }
}

/// Reads the bearer token (whitespace-trimmed) from a file.
pub fn read_token(path: Option<&Path>) -> Result<Option<String>, OpsError> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|source| OpsError::Token {
        path: path.display().to_string(),
        source,
    })?;
    Ok(Some(text.trim().to_string()))
}

fn snapshot_cell(s: Option<&SnapshotInfo>) -> String {
    match s {
        None => "-".into(),
        Some(i) => format!("{} {:?}", i.id, i.state).to_lowercase(),
    }
}

/// One row per worker.
pub async fn status(workers: &[String], connect: &Connect) -> Result<String, OpsError> {
    let mut rows = Vec::new();
    for url in workers {
        let s = connect.client(url)?.status().await?;
        let lag: i64 = s.partitions.iter().filter_map(|p| p.lag).sum();
        let parts: Vec<String> = s
            .partitions
            .iter()
            .map(|p| p.partition.to_string())
            .collect();
        rows.push(vec![
            s.worker.clone(),
            format!("{:?}", s.phase).to_lowercase(),
            parts.join(","),
            lag.to_string(),
            human_bytes(s.state_bytes),
            format!("{:.0}%", s.busy_ratio * 100.0),
            snapshot_cell(s.last_checkpoint.as_ref()),
            snapshot_cell(s.last_savepoint.as_ref()),
            s.consecutive_failed_checkpoints.to_string(),
        ]);
    }
    Ok(render(
        &[
            "WORKER",
            "PHASE",
            "PARTITIONS",
            "LAG",
            "STATE",
            "BUSY",
            "LAST CHECKPOINT",
            "LAST SAVEPOINT",
            "FAILED CKPTS",
        ],
        &rows,
    ))
}

/// Takes one savepoint across `workers` (same id on each) and waits for every part; with `stop`, each worker
/// stops after its savepoint (stop-with-savepoint). Returns the savepoint location.
pub async fn savepoint(
    workers: &[String],
    connect: &Connect,
    id: Option<String>,
    stop: bool,
) -> Result<String, OpsError> {
    let id = id.unwrap_or_else(|| format!("sp-{}", sluice_worker::snapshot::wall_clock_ms()));
    let bar = ProgressBar::new(workers.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} savepoint {msg} [{bar:20}] {pos}/{len} workers {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(id.clone());
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut location = None;
    for url in workers {
        let client = connect.client(url)?;
        let info = if stop {
            client
                .stop(true, Some(id.clone()))
                .await?
                .savepoint
                .ok_or_else(|| OpsError::Failed(format!("{url}: stopped without a savepoint")))?
        } else {
            client.trigger_savepoint(Some(id.clone())).await?;
            loop {
                let info = client.savepoint(&id).await?;
                if info.state != SnapshotState::Pending {
                    break info;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        if info.state != SnapshotState::Completed {
            bar.abandon();
            return Err(OpsError::Failed(format!(
                "{url}: savepoint {id} failed: {}",
                info.error.unwrap_or_default()
            )));
        }
        location = info.location;
        bar.inc(1);
    }
    bar.finish();
    location.ok_or_else(|| OpsError::Failed("no worker given".into()))
}
