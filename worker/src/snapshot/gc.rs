//! Checkpoint retention and garbage collection, as a pure plan over a store listing so it can be
//! property-tested: keep the newest N manifests per worker; delete an object only when no kept manifest and no
//! in-progress upload references it **and** it is older than a grace period (another worker may be
//! uploading it for a checkpoint whose manifest does not exist yet).

use std::collections::{BTreeMap, BTreeSet};

use sluice_api::manifest::SnapshotManifest;

use sluice_store::ObjectInfo;

/// What a GC pass deletes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcPlan {
    pub manifests: Vec<String>,
    pub objects: Vec<String>,
}

/// Inputs of one GC pass.
pub struct GcInput<'a> {
    /// Checkpoint manifests by key (all workers of the job).
    pub manifests: &'a BTreeMap<String, SnapshotManifest>,
    /// Objects under `<job>/objects/`.
    pub objects: &'a [ObjectInfo],
    /// Object keys an upload in progress (this worker) references.
    pub in_progress: &'a BTreeSet<String>,
    /// Only this worker's manifests are pruned; others' are their owners' business.
    pub worker: &'a str,
    pub keep: usize,
    pub now_ms: i64,
    pub grace_ms: i64,
}

pub fn plan(input: &GcInput<'_>) -> GcPlan {
    let mut mine: Vec<(&String, &SnapshotManifest)> = input
        .manifests
        .iter()
        .filter(|(_, m)| m.worker == input.worker)
        .collect();
    // Ids sort like their sequence numbers.
    mine.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    let drop_count = mine.len().saturating_sub(input.keep.max(1));
    let dropped: BTreeSet<&String> = mine.iter().take(drop_count).map(|(k, _)| *k).collect();
    let mut referenced: BTreeSet<&str> = input.in_progress.iter().map(String::as_str).collect();
    for (key, m) in input.manifests {
        if !dropped.contains(key) {
            referenced.extend(m.objects());
        }
    }
    let objects = input
        .objects
        .iter()
        .filter(|o| !referenced.contains(o.key.as_str()))
        .filter(|o| {
            o.modified_ms
                .is_some_and(|t| input.now_ms.saturating_sub(t) >= input.grace_ms)
        })
        .map(|o| o.key.clone())
        .collect();
    GcPlan {
        manifests: dropped.into_iter().cloned().collect(),
        objects,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use sluice_api::manifest::{
        FileEntry, MANIFEST_FORMAT, PartitionManifest, SnapshotKind, snapshot_id,
    };

    use super::*;

    fn manifest(worker: &str, seq: u64, objects: &[u8]) -> SnapshotManifest {
        SnapshotManifest {
            format: MANIFEST_FORMAT,
            id: snapshot_id(SnapshotKind::Checkpoint, seq),
            kind: SnapshotKind::Checkpoint,
            job: "j".into(),
            model_version: "m".into(),
            worker: worker.into(),
            parent: None,
            created_at_ms: 0,
            lineage: None,
            sealed_with: None,
            partitions: vec![PartitionManifest {
                partition: 0,
                input_offsets: [0; 3],
                txn_seq: seq,
                watermark_ms: None,
                files: objects
                    .iter()
                    .map(|o| FileEntry {
                        name: format!("{o}.sst"),
                        object: format!("j/objects/{o}"),
                        size: 1,
                        sha256: o.to_string(),
                    })
                    .collect(),
            }],
        }
    }

    proptest! {
        /// Whatever the manifests and listing, GC never deletes an object a kept manifest or an in-progress
        /// upload references, never deletes a young object, and keeps the newest `keep` manifests of this worker.
        #[test]
        fn never_deletes_what_is_still_referenced(
            specs in prop::collection::vec((0u8..3, prop::collection::vec(0u8..20, 0..6)), 0..12),
            in_progress in prop::collection::btree_set(0u8..20, 0..4),
            ages in prop::collection::vec(0i64..200, 20),
            keep in 1usize..4,
        ) {
            let mut manifests = BTreeMap::new();
            for (seq, (w, objs)) in specs.iter().enumerate() {
                let worker = format!("w{w}");
                let m = manifest(&worker, seq as u64, objs);
                manifests.insert(format!("j/checkpoints/{worker}/{}.json", m.id), m);
            }
            let objects: Vec<ObjectInfo> = (0u8..20).map(|o| ObjectInfo {
                key: format!("j/objects/{o}"), size: 1, modified_ms: Some(1000 - ages[o as usize]),
            }).collect();
            let in_progress: BTreeSet<String> = in_progress.iter().map(|o| format!("j/objects/{o}")).collect();
            let p = plan(&GcInput {
                manifests: &manifests, objects: &objects, in_progress: &in_progress,
                worker: "w0", keep, now_ms: 1000, grace_ms: 100,
            });
            let deleted: BTreeSet<&String> = p.manifests.iter().collect();
            for (key, m) in &manifests {
                if !deleted.contains(key) {
                    for o in m.objects() {
                        prop_assert!(!p.objects.iter().any(|d| d == o), "deleted referenced {o}");
                    }
                } else {
                    prop_assert_eq!(&m.worker, "w0");
                }
            }
            for o in &p.objects {
                prop_assert!(!in_progress.contains(o));
                let info = objects.iter().find(|i| &i.key == o).unwrap();
                prop_assert!(1000 - info.modified_ms.unwrap() >= 100);
            }
            let mine = manifests.values().filter(|m| m.worker == "w0").count();
            prop_assert_eq!(mine - p.manifests.len(), mine.min(keep));
        }
    }

    #[test]
    fn an_unreferenced_old_object_is_deleted() {
        let mut manifests = BTreeMap::new();
        for seq in 0..3 {
            let m = manifest("w0", seq, &[seq as u8]);
            manifests.insert(format!("k{seq}"), m);
        }
        let objects: Vec<ObjectInfo> = (0u8..3)
            .map(|o| ObjectInfo {
                key: format!("j/objects/{o}"),
                size: 1,
                modified_ms: Some(0),
            })
            .collect();
        let p = plan(&GcInput {
            manifests: &manifests,
            objects: &objects,
            in_progress: &BTreeSet::new(),
            worker: "w0",
            keep: 2,
            now_ms: 10_000,
            grace_ms: 100,
        });
        assert_eq!(p.manifests, vec!["k0".to_string()]);
        assert_eq!(p.objects, vec!["j/objects/0".to_string()]);
    }
}
