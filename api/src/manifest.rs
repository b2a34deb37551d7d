//! The checkpoint/savepoint manifest: the one JSON object that makes a durable snapshot of a job's state real.
//!
//! A snapshot's files are uploaded first and its manifest is written **last**; a reader only ever trusts
//! snapshots whose manifest exists, so a half-uploaded snapshot is never chosen. Checkpoint SST files are
//! content-addressed and shared between checkpoints (incremental); savepoints copy every file under their own
//! prefix so they stay valid after checkpoints are garbage-collected.

use serde::{Deserialize, Serialize};

/// Current manifest format. Readers accept this and older versions.
pub const MANIFEST_FORMAT: u32 = 1;

/// Checkpoint (automatic, retained N) or savepoint (user/operator-triggered, self-contained, kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotKind {
    Checkpoint,
    Savepoint,
}

/// One partition's state at an exact input position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionManifest {
    pub partition: i32,
    /// Next input offset to read per source topic, in the job's topic order (authorizations, device-telemetry,
    /// account-changes): the state reflects exactly the records before these offsets.
    pub input_offsets: [i64; 3],
    /// Sequence number of the last transaction whose input the state includes.
    pub txn_seq: u64,
    /// The partition's event-time watermark at the snapshot (ms since the epoch), if any event was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark_ms: Option<i64>,
    /// The RocksDB files that make up the state.
    pub files: Vec<FileEntry>,
}

impl PartitionManifest {
    /// Total bytes of the partition's state files.
    pub fn state_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// One file of a partition's RocksDB snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    /// File name inside the RocksDB directory (`000123.sst`, `MANIFEST-000005`, `CURRENT`, `OPTIONS-…`).
    pub name: String,
    /// Object key relative to the store root where the bytes live.
    pub object: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the content, verified on restore.
    pub sha256: String,
}

/// A complete, restorable snapshot of (a subset of) a job's partitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotManifest {
    pub format: u32,
    /// Unique within the job and kind, ordered: `chk-<20-digit seq>` or `sp-<20-digit seq>`.
    pub id: String,
    pub kind: SnapshotKind,
    /// The job identity (its `transactionalIdPrefix`).
    pub job: String,
    /// Model version active when the snapshot was taken (the restored job may run another one).
    pub model_version: String,
    /// Worker that wrote the snapshot.
    pub worker: String,
    /// The previous checkpoint of the same worker, for incremental lineage (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Wall-clock creation time (ms since the epoch) — metadata for humans and retention, never for processing.
    pub created_at_ms: i64,
    /// The state lineage the snapshot belongs to (`SLUICE_LINEAGE`; absent: the job's original lineage). A
    /// redeploy from a savepoint starts a new lineage, and recovery never restores another lineage's
    /// checkpoints, so state computed before the redeploy cannot come back after a crash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
    /// The id of the key this snapshot's new objects and this manifest were sealed with (`state.encryption`);
    /// absent: written in plain. A checkpoint may also reference objects of earlier checkpoints sealed with
    /// earlier keys; a savepoint copies every file, so it needs this key alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_with: Option<String>,
    pub partitions: Vec<PartitionManifest>,
}

impl SnapshotManifest {
    pub fn partition(&self, partition: i32) -> Option<&PartitionManifest> {
        self.partitions.iter().find(|p| p.partition == partition)
    }

    /// Total bytes of state referenced by the snapshot.
    pub fn state_bytes(&self) -> u64 {
        self.partitions
            .iter()
            .map(PartitionManifest::state_bytes)
            .sum()
    }

    /// Every object key the snapshot references (what garbage collection must keep).
    pub fn objects(&self) -> impl Iterator<Item = &str> {
        self.partitions
            .iter()
            .flat_map(|p| p.files.iter().map(|f| f.object.as_str()))
    }
}

/// Formats a snapshot id so lexical order equals numeric order.
pub fn snapshot_id(kind: SnapshotKind, seq: u64) -> String {
    match kind {
        SnapshotKind::Checkpoint => format!("chk-{seq:020}"),
        SnapshotKind::Savepoint => format!("sp-{seq:020}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SnapshotManifest {
        SnapshotManifest {
            format: MANIFEST_FORMAT,
            id: snapshot_id(SnapshotKind::Checkpoint, 7),
            kind: SnapshotKind::Checkpoint,
            job: "fraud".into(),
            model_version: "fraud-v1".into(),
            worker: "fraud-0".into(),
            parent: None,
            created_at_ms: 1,
            lineage: None,
            sealed_with: None,
            partitions: vec![PartitionManifest {
                partition: 2,
                input_offsets: [10, 3, 0],
                txn_seq: 4,
                watermark_ms: Some(99),
                files: vec![FileEntry {
                    name: "000009.sst".into(),
                    object: "sst/ab".into(),
                    size: 5,
                    sha256: "ab".into(),
                }],
            }],
        }
    }

    #[test]
    fn ids_sort_like_their_sequence_numbers() {
        let a = snapshot_id(SnapshotKind::Checkpoint, 9);
        let b = snapshot_id(SnapshotKind::Checkpoint, 10);
        assert!(a < b, "{a} < {b}");
        assert_eq!(
            snapshot_id(SnapshotKind::Savepoint, 3),
            "sp-00000000000000000003"
        );
    }

    #[test]
    fn manifest_round_trips_through_json_with_camel_case_fields() {
        let m = sample();
        let json = serde_json::to_string(&m).unwrap_or_default();
        assert!(json.contains("\"inputOffsets\":[10,3,0]"), "{json}");
        let back: SnapshotManifest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.state_bytes(), 5);
        assert_eq!(back.objects().collect::<Vec<_>>(), vec!["sst/ab"]);
        assert!(back.partition(2).is_some() && back.partition(1).is_none());
    }
}
