//! The storage seam between the pure processor and RocksDB.
//!
//! The processor only needs point reads and writes of opaque bytes, so the worker can back this
//! with a RocksDB write batch (committed together with the Kafka transaction) while tests and local
//! mode use [`MemStore`]. Cloning a `MemStore` is a checkpoint.

use std::collections::BTreeMap;
use std::convert::Infallible;

/// Keyed byte storage for one partition's card states plus one metadata blob.
pub trait StateStore {
    type Error: std::error::Error + Send + Sync + 'static;
    fn get_card(&mut self, card_id: &str) -> Result<Option<Vec<u8>>, Self::Error>;
    /// Calls `f` with the card's stored bytes (`None`: no state), which it may borrow from the store: the
    /// hot path decodes them in place instead of copying them out first.
    fn with_card<R>(
        &mut self,
        card_id: &str,
        f: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, Self::Error> {
        Ok(f(self.get_card(card_id)?.as_deref()))
    }
    fn put_card(&mut self, card_id: &str, bytes: Vec<u8>) -> Result<(), Self::Error>;
    fn delete_card(&mut self, card_id: &str) -> Result<(), Self::Error>;
    /// Partition metadata (watermark progress).
    fn get_meta(&mut self) -> Result<Option<Vec<u8>>, Self::Error>;
    fn put_meta(&mut self, bytes: Vec<u8>) -> Result<(), Self::Error>;
}

/// In-memory store (BTreeMap, so iteration and equality are deterministic).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemStore {
    pub cards: BTreeMap<String, Vec<u8>>,
    pub meta: Option<Vec<u8>>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl StateStore for MemStore {
    type Error = Infallible;

    fn get_card(&mut self, card_id: &str) -> Result<Option<Vec<u8>>, Infallible> {
        Ok(self.cards.get(card_id).cloned())
    }

    fn put_card(&mut self, card_id: &str, bytes: Vec<u8>) -> Result<(), Infallible> {
        self.cards.insert(card_id.to_owned(), bytes);
        Ok(())
    }

    fn delete_card(&mut self, card_id: &str) -> Result<(), Infallible> {
        self.cards.remove(card_id);
        Ok(())
    }

    fn get_meta(&mut self) -> Result<Option<Vec<u8>>, Infallible> {
        Ok(self.meta.clone())
    }

    fn put_meta(&mut self, bytes: Vec<u8>) -> Result<(), Infallible> {
        self.meta = Some(bytes);
        Ok(())
    }
}
