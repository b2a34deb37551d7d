//! Bulk loading of card states as sorted SST files, ingested straight into the bottom level: no memtable, no
//! WAL, no compaction. For building a large state (benchmarks; seeding a partition from an export) in minutes
//! instead of the hours a replay of the input would take.

use std::path::Path;

use rocksdb::{Options, SstFileWriter};

use super::position::StatePosition;
use super::rocks::{PartitionDb, StateError, card_key};

/// What a bulk load wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BulkLoaded {
    pub cards: u64,
    pub files: u64,
    pub value_bytes: u64,
}

impl PartitionDb {
    /// Ingests `cards` (card id → encoded `CardState`, **strictly ascending by card id**) and records
    /// `position` as the input position the loaded state reflects. SST files of about `file_bytes` are
    /// staged in `staging` (removed after ingestion, which moves them).
    pub fn bulk_load(
        &mut self,
        cards: impl IntoIterator<Item = (String, Vec<u8>)>,
        position: &StatePosition,
        file_bytes: u64,
        staging: &Path,
    ) -> Result<BulkLoaded, StateError> {
        std::fs::create_dir_all(staging).map_err(|source| StateError::Io {
            path: staging.to_path_buf(),
            source,
        })?;
        let opts = Options::default();
        let mut out = BulkLoaded::default();
        let mut writer: Option<(SstFileWriter<'_>, std::path::PathBuf)> = None;
        let mut in_file = 0u64;
        let mut files = Vec::new();
        for (card_id, value) in cards {
            if writer.is_none() {
                let path = staging.join(format!("bulk-{:06}.sst", files.len()));
                let w = SstFileWriter::create(&opts);
                w.open(&path).map_err(self.err_at(&path))?;
                writer = Some((w, path));
                in_file = 0;
            }
            if let Some((w, path)) = &mut writer {
                out.value_bytes += value.len() as u64;
                in_file += value.len() as u64;
                w.put(card_key(&card_id), value)
                    .map_err(self.err_at(path))?;
            }
            out.cards += 1;
            if in_file >= file_bytes
                && let Some((mut w, path)) = writer.take()
            {
                w.finish().map_err(self.err_at(&path))?;
                files.push(path);
            }
        }
        if let Some((mut w, path)) = writer.take() {
            w.finish().map_err(self.err_at(&path))?;
            files.push(path);
        }
        out.files = files.len() as u64;
        if !files.is_empty() {
            self.ingest(files)?;
        }
        self.commit_pending(position)?;
        Ok(out)
    }

    fn err_at<'a>(&self, path: &'a Path) -> impl Fn(rocksdb::Error) -> StateError + 'a {
        move |source| StateError::Rocks {
            dir: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use sluice_core::processor::StateStore;

    use super::*;
    use crate::state::RocksResources;

    #[test]
    fn bulk_loaded_cards_read_back_and_survive_a_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let res = RocksResources::new(8, 8);
        let mut db = PartitionDb::open(&res, &tmp.path().join("live")).unwrap();
        let mut cards: Vec<(String, Vec<u8>)> = (0..5_000u32)
            .map(|i| (format!("card-{i:08}"), i.to_le_bytes().repeat(8)))
            .collect();
        cards.sort();
        let pos = StatePosition {
            offsets: [0, 0, 0],
            txn_seq: 0,
        };
        let loaded = db
            .bulk_load(cards, &pos, 16 * 1024, &tmp.path().join("staging"))
            .unwrap();
        assert_eq!(loaded.cards, 5_000);
        assert!(loaded.files > 1, "{loaded:?}");
        assert_eq!(db.count_cards().unwrap(), 5_000);
        assert_eq!(
            db.get_card("card-00000042").unwrap(),
            Some(42u32.to_le_bytes().repeat(8))
        );
        let captured = db.handle().checkpoint_to(&tmp.path().join("cp")).unwrap();
        assert_eq!(captured.position, pos);
    }
}
