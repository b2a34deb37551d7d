//! Reading snapshots back: listing checkpoint manifests, loading a savepoint, choosing the newest snapshot of a
//! partition that lies on the committed chain, and downloading its files with checksum verification.

use std::collections::BTreeMap;
use std::path::Path;

use futures::stream::{self, StreamExt, TryStreamExt};
use sluice_api::manifest::{PartitionManifest, SnapshotManifest};

use super::SnapshotError;
use super::files::sha256_file;
use sluice_api::snapshot_layout::{Layout, is_manifest};
use sluice_store::ObjectStore;

/// Every checkpoint manifest of the job, by key. Unreadable manifests are skipped with a warning (a manifest
/// is written in one PUT, so one that does not parse is foreign or damaged, never "in progress").
pub async fn checkpoint_manifests(
    store: &ObjectStore,
    layout: &Layout,
) -> Result<BTreeMap<String, SnapshotManifest>, SnapshotError> {
    let mut out = BTreeMap::new();
    for obj in store.list(&layout.checkpoints_prefix()).await? {
        if !is_manifest(&obj.key) {
            continue;
        }
        let bytes = store.get_bytes(&obj.key).await?;
        match serde_json::from_slice::<SnapshotManifest>(&bytes) {
            Ok(m) => {
                out.insert(obj.key, m);
            }
            Err(e) => tracing::warn!(key = %obj.key, error = %e, "skipping an unreadable manifest"),
        }
    }
    Ok(out)
}

/// Every manifest of every savepoint of the job (listings and "the newest snapshot before X"). Unreadable
/// manifests are skipped.
pub async fn all_savepoint_manifests(
    store: &ObjectStore,
    layout: &Layout,
) -> Result<Vec<SnapshotManifest>, SnapshotError> {
    let mut out = Vec::new();
    for obj in store.list(&layout.savepoints_prefix()).await? {
        if !is_manifest(&obj.key) {
            continue;
        }
        let bytes = store.get_bytes(&obj.key).await?;
        if let Ok(m) = serde_json::from_slice::<SnapshotManifest>(&bytes) {
            out.push(m);
        }
    }
    Ok(out)
}

/// The manifests of a savepoint directory (one per worker that wrote it), given as a key in this store.
pub async fn savepoint_manifests(
    store: &ObjectStore,
    dir_key: &str,
) -> Result<Vec<SnapshotManifest>, SnapshotError> {
    let prefix = format!("{}/", dir_key.trim_end_matches('/'));
    let mut out = Vec::new();
    for obj in store.list(&prefix).await? {
        let rest = obj.key.get(prefix.len()..).unwrap_or_default();
        if rest.contains('/') || !rest.ends_with(".json") {
            continue;
        }
        let bytes = store.get_bytes(&obj.key).await?;
        let m = serde_json::from_slice::<SnapshotManifest>(&bytes).map_err(|e| {
            SnapshotError::Manifest {
                key: obj.key.clone(),
                reason: e.to_string(),
            }
        })?;
        out.push(m);
    }
    if out.is_empty() {
        return Err(SnapshotError::NoSavepoint {
            location: store.uri_of(dir_key),
        });
    }
    Ok(out)
}

/// The snapshot of `partition` with the highest transaction sequence whose offsets are within `frontier`.
pub fn newest_within<'a>(
    manifests: impl IntoIterator<Item = &'a SnapshotManifest>,
    partition: i32,
    frontier: &[i64; 3],
) -> Option<(&'a SnapshotManifest, &'a PartitionManifest)> {
    manifests
        .into_iter()
        .filter_map(|m| m.partition(partition).map(|p| (m, p)))
        .filter(|(_, p)| p.input_offsets.iter().zip(frontier).all(|(o, f)| o <= f))
        .max_by_key(|(m, p)| (p.txn_seq, m.id.clone()))
}

/// Downloads a partition's files into `db_dir` and verifies size and SHA-256 of each. Returns bytes received.
pub async fn download_partition(
    store: &ObjectStore,
    part: &PartitionManifest,
    db_dir: &Path,
    concurrency: usize,
) -> Result<u64, SnapshotError> {
    tokio::fs::create_dir_all(db_dir)
        .await
        .map_err(|e| SnapshotError::local(db_dir, e))?;
    let sizes: Vec<u64> = stream::iter(part.files.iter())
        .map(|f| async move {
            let path = db_dir.join(&f.name);
            let n = store.download(&f.object, &path).await?;
            let path2 = path.clone();
            let sha = tokio::task::spawn_blocking(move || sha256_file(&path2))
                .await
                .map_err(|e| SnapshotError::Checksum {
                    object: f.object.clone(),
                    reason: e.to_string(),
                })??;
            if n != f.size || sha != f.sha256 {
                return Err(SnapshotError::Checksum {
                    object: f.object.clone(),
                    reason: format!(
                        "expected {} bytes sha256 {}, got {n} bytes sha256 {sha}",
                        f.size, f.sha256
                    ),
                });
            }
            Ok(n)
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(sizes.iter().sum())
}

#[cfg(test)]
mod tests {
    use sluice_api::manifest::{MANIFEST_FORMAT, SnapshotKind, snapshot_id};

    use super::*;

    fn m(id: u64, part: i32, offsets: [i64; 3], txn_seq: u64) -> SnapshotManifest {
        SnapshotManifest {
            format: MANIFEST_FORMAT,
            id: snapshot_id(SnapshotKind::Checkpoint, id),
            kind: SnapshotKind::Checkpoint,
            job: "j".into(),
            model_version: "m".into(),
            worker: "w".into(),
            parent: None,
            created_at_ms: 0,
            lineage: None,
            sealed_with: None,
            partitions: vec![PartitionManifest {
                partition: part,
                input_offsets: offsets,
                txn_seq,
                watermark_ms: None,
                files: vec![],
            }],
        }
    }

    #[test]
    fn chooses_the_newest_snapshot_on_the_committed_chain() {
        let all = [
            m(1, 0, [5, 0, 0], 1),
            m(2, 0, [9, 1, 0], 2),
            m(3, 0, [20, 1, 0], 3),
            m(4, 1, [1, 1, 1], 9),
        ];
        let (got, _) = newest_within(&all, 0, &[10, 1, 0]).unwrap();
        assert_eq!(got.id, all[1].id);
        assert!(newest_within(&all, 0, &[4, 0, 0]).is_none());
        assert!(newest_within(&all, 2, &[99, 99, 99]).is_none());
    }
}
