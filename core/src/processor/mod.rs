//! The deterministic per-partition function: (state, record) → (state', outputs).
//!
//! Contract: the outputs and the store contents after N records are a pure function of the model,
//! the params and the first N records (in processing order). That is what lets a restore from any
//! checkpoint, followed by replay in the recorded interleaving, reproduce the original output byte
//! for byte, and what the [`oracle`](crate::oracle) checks independently.

#[cfg(test)]
mod dlq_contract_tests;
mod error;
mod meta;
mod output;
mod params;
mod record;
mod store;
#[cfg(test)]
mod tests;

pub use error::ProcessError;
pub use meta::{META_VERSION, PartitionMeta};
pub use output::{
    AlertRecord, DLQ_KEEP_BYTES, DecisionRecord, DlqRecord, LateRecord, Output, OutputKind,
};
pub use params::{JobParams, MAX_DELAY_MS, MAX_TTL_MS, ParamsError};
pub use record::{InputRecord, OwnedInputRecord};
pub use store::{MemStore, StateStore};

use crate::card_state::CardState;
use crate::event::{InputEvent, decode};
use crate::features::{self, WINDOW_1H_MS};
use crate::model::ScoringModel;

/// Processes one input partition (the same partition number of all three topics).
#[derive(Debug, Clone)]
pub struct PartitionProcessor {
    params: JobParams,
    model: ScoringModel,
    partition: i32,
    meta: PartitionMeta,
    loaded: bool,
}

impl PartitionProcessor {
    /// A processor with empty progress; call [`load`](Self::load) before [`process`](Self::process).
    pub fn new(params: JobParams, model: ScoringModel, partition: i32) -> Self {
        Self {
            params,
            model,
            partition,
            meta: PartitionMeta::default(),
            loaded: false,
        }
    }

    /// Read partition metadata from `store` (empty store = fresh partition).
    pub fn load<S: StateStore>(&mut self, store: &mut S) -> Result<(), ProcessError<S::Error>> {
        self.meta = match store.get_meta().map_err(ProcessError::Store)? {
            None => PartitionMeta::default(),
            Some(bytes) => PartitionMeta::decode(&bytes).map_err(ProcessError::CorruptMeta)?,
        };
        self.loaded = true;
        Ok(())
    }

    /// Current watermark: max valid event time seen − out_of_orderness (None before any event).
    pub fn watermark(&self) -> Option<i64> {
        self.params.watermark_for(self.meta.max_event_time_ms)
    }

    pub fn meta(&self) -> PartitionMeta {
        self.meta
    }

    pub fn params(&self) -> &JobParams {
        &self.params
    }

    pub fn model(&self) -> &ScoringModel {
        &self.model
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Cards with `last_event_time_ms` strictly below this may be deleted by a sweep; the result is
    /// identical to leaving them (the processor treats them as absent).
    pub fn ttl_cutoff(&self) -> Option<i64> {
        self.params.ttl_cutoff(self.watermark())
    }

    /// Process one record, appending its outputs to `out`.
    ///
    /// Writes: `put_card` for every valid on-time record, `put_meta` only when the max event time
    /// grows (so the store always mirrors the in-memory meta). DLQ and late records write nothing.
    ///
    /// Bad records never fail: they become DLQ or late outputs. An `Err` means the store or the
    /// wiring failed; nothing is appended to `out`, but store writes of this call may have
    /// happened, so the caller must abort the transaction and restore from the last checkpoint.
    pub fn process<S: StateStore>(
        &mut self,
        store: &mut S,
        rec: InputRecord<'_>,
        out: &mut Vec<Output>,
    ) -> Result<(), ProcessError<S::Error>> {
        if !self.loaded {
            return Err(ProcessError::NotLoaded);
        }
        if rec.partition != self.partition {
            return Err(ProcessError::WrongPartition {
                expected: self.partition,
                got: rec.partition,
            });
        }
        let event = match decode(rec.topic, rec.key, rec.value) {
            Ok(event) => event,
            Err(err) => {
                out.push(Output::Dlq(DlqRecord::new(&rec, &err)));
                return Ok(());
            }
        };
        let t = event.event_time_ms();
        // The watermark excludes the current record, so a record never makes itself late.
        let watermark = self.watermark();
        if let (Some(w), Some(cutoff)) = (watermark, self.params.late_cutoff(watermark))
            && t < cutoff
        {
            out.push(Output::Late(LateRecord::new(&rec, event.card_id(), t, w)));
            return Ok(());
        }

        let card_id = event.card_id();
        let mut state = self.read_card(store, card_id, watermark)?;
        let mut emitted = Vec::with_capacity(2);
        if let InputEvent::Authorization(auth) = &event {
            let features = features::compute(&state, auth);
            let scored = self.model.score(&features);
            let decision = DecisionRecord::new(
                auth,
                &scored,
                features,
                &self.model.version,
                rec.partition,
                rec.offset,
            );
            let alert = scored
                .decision
                .is_alert()
                .then(|| AlertRecord::new(auth, &decision));
            emitted.push(Output::Decision(decision));
            emitted.extend(alert.map(Output::Alert));
        }
        state.apply(&event);
        if let Some(cutoff) = self.params.late_cutoff(watermark) {
            state.prune(cutoff.saturating_sub(WINDOW_1H_MS));
        }
        store
            .put_card(card_id, state.encode())
            .map_err(ProcessError::Store)?;

        let next = PartitionMeta {
            max_event_time_ms: Some(self.meta.max_event_time_ms.map_or(t, |m| m.max(t))),
        };
        if next != self.meta {
            store.put_meta(next.encode()).map_err(ProcessError::Store)?;
            self.meta = next;
        }
        out.append(&mut emitted);
        Ok(())
    }

    /// Load a card's state, applying TTL: expired state is indistinguishable from no state.
    fn read_card<S: StateStore>(
        &self,
        store: &mut S,
        card_id: &str,
        watermark: Option<i64>,
    ) -> Result<CardState, ProcessError<S::Error>> {
        let decoded = store
            .with_card(card_id, |bytes| bytes.map(CardState::decode))
            .map_err(ProcessError::Store)?;
        let Some(decoded) = decoded else {
            return Ok(CardState::default());
        };
        let state = decoded.map_err(|source| ProcessError::CorruptCardState {
            card_id: card_id.to_owned(),
            source,
        })?;
        if state.is_expired(watermark, self.params.state_ttl_ms) {
            Ok(CardState::default())
        } else {
            Ok(state)
        }
    }
}
