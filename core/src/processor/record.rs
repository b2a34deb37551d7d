//! Input records as the processor sees them: raw bytes plus where they came from.
//!
//! The processor decodes itself (rather than taking `InputEvent`s) so that DLQ and late records can
//! carry the exact original bytes and source position.

use serde::{Deserialize, Serialize};

use crate::event::SourceTopic;

/// One consumed Kafka record, borrowed from the consumer's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputRecord<'a> {
    pub topic: SourceTopic,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

/// Owned form of [`InputRecord`], for tests, replay files and the oracle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedInputRecord {
    pub topic: SourceTopic,
    pub partition: i32,
    pub offset: i64,
    #[serde(with = "crate::processor::output::hex_opt", rename = "key_hex")]
    pub key: Option<Vec<u8>>,
    #[serde(with = "crate::processor::output::hex_opt", rename = "value_hex")]
    pub value: Option<Vec<u8>>,
}

impl OwnedInputRecord {
    pub fn as_input(&self) -> InputRecord<'_> {
        InputRecord {
            topic: self.topic,
            partition: self.partition,
            offset: self.offset,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
        }
    }
}

impl From<InputRecord<'_>> for OwnedInputRecord {
    fn from(r: InputRecord<'_>) -> Self {
        Self {
            topic: r.topic,
            partition: r.partition,
            offset: r.offset,
            key: r.key.map(<[u8]>::to_vec),
            value: r.value.map(<[u8]>::to_vec),
        }
    }
}
