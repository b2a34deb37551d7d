//! `sluice checkpoints list` and `sluice savepoints delete`: read and prune a checkpoint store directly.

use indicatif::{ProgressBar, ProgressStyle};
use sluice_api::job_config::S3Options;
use sluice_api::manifest::SnapshotManifest;

use super::table::render;
use super::{OpsError, human_bytes};
use sluice_api::snapshot_layout::Layout;
use sluice_api::snapshot_layout::{is_manifest, valid_snapshot_id};
use sluice_store::{ObjectStore, StoreError};
use sluice_worker::snapshot::restore::{all_savepoint_manifests, checkpoint_manifests};

fn row(m: &SnapshotManifest) -> Vec<String> {
    let parts: Vec<String> = m
        .partitions
        .iter()
        .map(|p| p.partition.to_string())
        .collect();
    vec![
        format!("{:?}", m.kind).to_lowercase(),
        m.id.clone(),
        m.worker.clone(),
        parts.join(","),
        human_bytes(m.state_bytes()),
        m.model_version.clone(),
        m.created_at_ms.to_string(),
    ]
}

/// Every checkpoint and savepoint manifest of `job` in the store, as a table.
pub async fn list(uri: &str, s3: &S3Options, job: &str) -> Result<String, OpsError> {
    let keyring = sluice_store::keys::reading_keyring_from_env().map_err(StoreError::from)?;
    let store = ObjectStore::open(uri, s3).await?.with_keyring(keyring);
    let layout = Layout::new(job);
    let mut rows: Vec<Vec<String>> = checkpoint_manifests(&store, &layout)
        .await?
        .values()
        .map(row)
        .collect();
    rows.extend(
        all_savepoint_manifests(&store, &layout)
            .await?
            .iter()
            .map(row),
    );
    Ok(render(
        &[
            "KIND",
            "ID",
            "WORKER",
            "PARTITIONS",
            "STATE",
            "MODEL",
            "CREATED (ms)",
        ],
        &rows,
    ))
}

/// Deletes savepoint `id` of `job` (all its manifests and files). Returns the objects deleted.
pub async fn delete_savepoint(
    uri: &str,
    s3: &S3Options,
    job: &str,
    id: &str,
) -> Result<usize, OpsError> {
    if !valid_snapshot_id(id) {
        return Err(OpsError::Failed(format!("{id:?} is not a savepoint id")));
    }
    let store = ObjectStore::open(uri, s3).await?;
    let prefix = format!("{}/", Layout::new(job).savepoint_dir(id));
    let objects = store.list(&prefix).await?;
    let bar = ProgressBar::new(objects.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("deleting {bar:30} {pos}/{len} objects")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Manifests first, so a half-deleted savepoint is never mistaken for a complete one.
    let (manifests, files): (Vec<_>, Vec<_>) = objects.iter().partition(|o| is_manifest(&o.key));
    for obj in manifests.into_iter().chain(files) {
        store.delete(&obj.key).await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(objects.len())
}
