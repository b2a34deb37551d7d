//! Errors that stop processing (as opposed to bad records, which become DLQ/late outputs).
//!
//! Every variant means "abort the current Kafka transaction and restore from the last checkpoint";
//! `kind()` separates store hiccups (retry) from corruption and wiring bugs (page someone).

use thiserror::Error;

use crate::codec::StateDecodeError;

/// A failure of the processor itself; never caused by record contents.
#[derive(Debug, Error)]
pub enum ProcessError<E: std::error::Error + 'static> {
    /// The state store failed; usually transient.
    #[error("state store: {0}")]
    Store(#[source] E),
    /// Persisted card state does not decode: corruption, or written by an unknown newer release.
    #[error("stored state of card {card_id:?} is corrupt: {source}")]
    CorruptCardState {
        card_id: String,
        #[source]
        source: StateDecodeError,
    },
    /// Persisted partition metadata does not decode.
    #[error("stored partition metadata is corrupt: {0}")]
    CorruptMeta(#[source] StateDecodeError),
    /// `process` was called before `load`; results would ignore the restored watermark.
    #[error("process() called before load()")]
    NotLoaded,
    /// The worker routed a record to the wrong partition's processor.
    #[error("record from partition {got} fed to the processor of partition {expected}")]
    WrongPartition { expected: i32, got: i32 },
}

impl<E: std::error::Error + 'static> ProcessError<E> {
    /// Bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Store(_) => "store",
            Self::CorruptCardState { .. } => "corrupt_card_state",
            Self::CorruptMeta(_) => "corrupt_meta",
            Self::NotLoaded => "not_loaded",
            Self::WrongPartition { .. } => "wrong_partition",
        }
    }

    /// Worth retrying after restoring from the last checkpoint (only store failures are).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Store(_))
    }
}
