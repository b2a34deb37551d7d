//! Bringing durable snapshots into recovery: before a partition recovers, the newest snapshot on the committed
//! chain is chosen among local checkpoints, the store's checkpoints (any worker's — so state follows its
//! partition across rescales) and the configured savepoint. A local checkpoint at least as new wins (local
//! recovery, no download); otherwise the remote one is downloaded, verified, and installed as the newest local
//! checkpoint, which the ordinary recovery then restores and replays from.
//!
//! Only snapshots of the worker's state lineage are candidates, plus the configured savepoint whatever its
//! lineage: after a redeploy from a savepoint that savepoint is the new lineage's root (its downloaded copy is
//! installed in the new lineage), and the checkpoints taken before the redeploy are never restored again.

use std::path::Path;

use sluice_api::manifest::{PartitionManifest, SnapshotManifest};

use crate::snapshot::SnapshotError;
use crate::snapshot::restore::{
    checkpoint_manifests, download_partition, newest_within, savepoint_manifests,
};
use crate::state::{CheckpointMeta, LocalCheckpoints};
use sluice_api::snapshot_layout::Layout;
use sluice_store::ObjectStore;

/// The remote snapshots recovery may use.
pub struct RemoteSnapshots {
    /// The store's checkpoints of `lineage`.
    checkpoints: Vec<SnapshotManifest>,
    savepoint: Vec<SnapshotManifest>,
    lineage: Option<String>,
}

/// Where a partition's state came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreSource {
    /// A local checkpoint (or nothing: a fresh start); no download.
    Local,
    /// Downloaded from the store.
    Remote { id: String, bytes: u64 },
}

impl RemoteSnapshots {
    pub fn load(
        rt: &tokio::runtime::Runtime,
        store: &ObjectStore,
        layout: &Layout,
        restore_from: Option<&str>,
        lineage: Option<&String>,
    ) -> Result<RemoteSnapshots, SnapshotError> {
        let checkpoints = rt
            .block_on(checkpoint_manifests(store, layout))?
            .into_values()
            .filter(|m| m.lineage.as_ref() == lineage)
            .collect();
        let savepoint = match restore_from {
            Some(uri) => {
                let key = store.key_of(uri).ok_or_else(|| SnapshotError::NoSavepoint {
                    location: format!(
                        "{uri} (worker.restoreFrom must lie inside job.state.checkpointStore {})",
                        store.uri_of("")
                    ),
                })?;
                rt.block_on(savepoint_manifests(store, &key))?
            }
            None => Vec::new(),
        };
        Ok(RemoteSnapshots {
            checkpoints,
            savepoint,
            lineage: lineage.cloned(),
        })
    }

    /// The savepoint's entry for `partition`, if the configured savepoint has one.
    pub fn savepoint_part(&self, partition: i32) -> Option<&PartitionManifest> {
        self.savepoint.iter().find_map(|m| m.partition(partition))
    }

    /// Makes the best snapshot for `partition` within `frontier` available locally.
    pub fn prepare(
        &self,
        rt: &tokio::runtime::Runtime,
        store: &ObjectStore,
        state_root: &Path,
        partition: i32,
        frontier: &[i64; 3],
        concurrency: usize,
    ) -> Result<RestoreSource, SnapshotError> {
        let local = LocalCheckpoints::new(state_root, partition).in_lineage(self.lineage.clone());
        let local_best = local.newest_within(frontier)?.map(|m| m.txn_seq);
        let Some((manifest, part)) = newest_within(
            self.checkpoints.iter().chain(&self.savepoint),
            partition,
            frontier,
        ) else {
            return Ok(RestoreSource::Local);
        };
        if local_best.is_some_and(|l| l >= part.txn_seq) {
            return Ok(RestoreSource::Local);
        }
        let seq = local.next_seq()?;
        let db_dir = local.prepare(seq)?;
        let bytes = rt.block_on(download_partition(store, part, &db_dir, concurrency))?;
        local.finish(&CheckpointMeta {
            partition,
            seq,
            offsets: part.input_offsets,
            txn_seq: part.txn_seq,
            lineage: self.lineage.clone(),
        })?;
        tracing::info!(partition, snapshot = %manifest.id, from_worker = %manifest.worker, bytes, "downloaded state from the checkpoint store");
        Ok(RestoreSource::Remote {
            id: manifest.id.clone(),
            bytes,
        })
    }
}
