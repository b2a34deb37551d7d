//! Writing a snapshot to the store: files first (bounded concurrency, each content-addressed object uploaded
//! once), the manifest last. A crash or outage part-way leaves objects without a manifest — invisible to
//! restore, collected later by GC — so the previous checkpoint stays the one restore chooses.

use std::collections::BTreeSet;
use std::path::PathBuf;

use futures::stream::{self, StreamExt, TryStreamExt};
use sluice_api::manifest::{
    FileEntry, MANIFEST_FORMAT, PartitionManifest, SnapshotKind, SnapshotManifest,
};

use super::SnapshotError;
use super::files::LocalFile;
use crate::crash_points;
use sluice_api::snapshot_layout::Layout;
use sluice_store::ObjectStore;

/// One partition's local checkpoint, ready to upload.
#[derive(Clone, Debug)]
pub struct LocalPart {
    pub partition: i32,
    pub input_offsets: [i64; 3],
    pub txn_seq: u64,
    pub watermark_ms: Option<i64>,
    /// The RocksDB checkpoint directory.
    pub dir: PathBuf,
    pub files: Vec<LocalFile>,
}

/// What to write.
pub struct UploadRequest<'a> {
    pub kind: SnapshotKind,
    pub id: &'a str,
    pub job: &'a str,
    pub worker: &'a str,
    pub model_version: &'a str,
    pub parent: Option<String>,
    pub created_at_ms: i64,
    pub lineage: Option<String>,
    pub parts: &'a [LocalPart],
    pub concurrency: usize,
}

/// The outcome: the manifest as written, its key, and the bytes actually sent.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub manifest: SnapshotManifest,
    pub manifest_key: String,
    pub uploaded_bytes: u64,
    pub uploaded_files: usize,
}

/// Uploads the request's files and then its manifest. `existing` holds object keys a retained manifest of
/// this worker references (checkpoints skip those: incremental); it is extended once the manifest is written.
pub async fn upload(
    store: &ObjectStore,
    layout: &Layout,
    req: &UploadRequest<'_>,
    existing: &mut BTreeSet<String>,
) -> Result<Uploaded, SnapshotError> {
    let object_key = |sha: &str| match req.kind {
        SnapshotKind::Checkpoint => layout.object(sha),
        SnapshotKind::Savepoint => layout.savepoint_file(req.id, sha),
    };
    let mut todo: Vec<(String, PathBuf)> = Vec::new();
    let mut planned = BTreeSet::new();
    let mut partitions = Vec::new();
    for part in req.parts {
        let mut files = Vec::new();
        for f in &part.files {
            let key = object_key(&f.sha256);
            if !existing.contains(&key) && planned.insert(key.clone()) {
                todo.push((key.clone(), f.path.clone()));
            }
            files.push(FileEntry {
                name: f.name.clone(),
                object: key,
                size: f.size,
                sha256: f.sha256.clone(),
            });
        }
        partitions.push(PartitionManifest {
            partition: part.partition,
            input_offsets: part.input_offsets,
            txn_seq: part.txn_seq,
            watermark_ms: part.watermark_ms,
            files,
        });
    }
    let uploaded_files = todo.len();
    let sent: Vec<(String, u64)> = stream::iter(todo)
        .map(|(key, path)| async move {
            let n = store.put_file(&key, &path).await?;
            Ok::<_, SnapshotError>((key, n))
        })
        .buffer_unordered(req.concurrency.max(1))
        .try_collect()
        .await?;
    let uploaded_bytes = sent.iter().map(|(_, n)| n).sum();
    // Files written, manifest not yet: the crash tests arm this point.
    crash_points::reach("before_manifest");
    let manifest = SnapshotManifest {
        format: MANIFEST_FORMAT,
        id: req.id.to_string(),
        kind: req.kind,
        job: req.job.to_string(),
        model_version: req.model_version.to_string(),
        worker: req.worker.to_string(),
        parent: req.parent.clone(),
        created_at_ms: req.created_at_ms,
        lineage: req.lineage.clone(),
        sealed_with: store.sealing_key_id().map(str::to_string),
        partitions,
    };
    let manifest_key = match req.kind {
        SnapshotKind::Checkpoint => layout.checkpoint_manifest(req.worker, req.id),
        SnapshotKind::Savepoint => layout.savepoint_manifest(req.id, req.worker),
    };
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| SnapshotError::Manifest {
        key: manifest_key.clone(),
        reason: e.to_string(),
    })?;
    store.put_bytes(&manifest_key, body).await?;
    // Only now are the new objects referenced by a manifest (and so safe from another worker's GC); only now
    // may later checkpoints rely on them without uploading again.
    if req.kind == SnapshotKind::Checkpoint {
        existing.extend(sent.into_iter().map(|(k, _)| k));
    }
    Ok(Uploaded {
        manifest,
        manifest_key,
        uploaded_bytes,
        uploaded_files,
    })
}
