//! Records the processor emits, and their wire form.
//!
//! JSON is produced by serde from plain structs (declared field order, no maps), so the bytes are a
//! pure function of the record: replays and the oracle can be compared byte-for-byte. Raw input
//! bytes in DLQ/late records are lowercase hex (`key_hex`/`value_hex`, null when absent).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::record::InputRecord;
use crate::event::{Authorization, DecodeError, SourceTopic};
use crate::features::FeatureVector;
use crate::model::{Decision, ReasonCode, Scored};

/// The score of one authorization (decisions topic, key = card_id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub txn_id: String,
    pub card_id: String,
    pub decision: Decision,
    pub score: i64,
    pub reasons: Vec<ReasonCode>,
    pub features: FeatureVector,
    pub model_version: String,
    pub source_partition: i32,
    pub source_offset: i64,
    pub event_time_ms: i64,
}

/// A REVIEW/DECLINE decision with the context an analyst needs (alerts topic, key = card_id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub txn_id: String,
    pub card_id: String,
    pub account_id: String,
    pub merchant_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub country: String,
    pub decision: Decision,
    pub score: i64,
    pub reasons: Vec<ReasonCode>,
    pub model_version: String,
    pub source_partition: i32,
    pub source_offset: i64,
    pub event_time_ms: i64,
}

/// The most bytes of an input's key and of its value a DLQ record keeps (as hex, so a DLQ record stays
/// below about 270 KB, far from Kafka's default 1 MB limit, whatever the input's size).
pub const DLQ_KEEP_BYTES: usize = 65_536;

/// A record that failed validation (dlq topic, key = original key, cut like `key_hex`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqRecord {
    pub source_topic: SourceTopic,
    pub source_partition: i32,
    pub source_offset: i64,
    /// Bounded [`DecodeError::kind`].
    pub error_kind: String,
    /// Human reason naming the field.
    pub reason: String,
    #[serde(with = "hex_opt", rename = "key_hex")]
    pub key: Option<Vec<u8>>,
    #[serde(with = "hex_opt", rename = "value_hex")]
    pub value: Option<Vec<u8>>,
    /// Only when the key was cut to [`DLQ_KEEP_BYTES`]: the whole key's length and SHA-256 (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_len: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<String>,
    /// Only when the value was cut to [`DLQ_KEEP_BYTES`]: the whole value's length and SHA-256 (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_len: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_sha256: Option<String>,
}

/// A valid record that arrived behind the lateness cutoff (late topic, key = original key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateRecord {
    pub source_topic: SourceTopic,
    pub source_partition: i32,
    pub source_offset: i64,
    pub card_id: String,
    pub event_time_ms: i64,
    /// Watermark when the record was processed (the record was late because
    /// `event_time_ms < watermark_ms - allowed_lateness_ms`).
    pub watermark_ms: i64,
    #[serde(with = "hex_opt", rename = "key_hex")]
    pub key: Option<Vec<u8>>,
    #[serde(with = "hex_opt", rename = "value_hex")]
    pub value: Option<Vec<u8>>,
}

/// Which output topic a record belongs to (bounded; usable as a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutputKind {
    Decisions,
    Alerts,
    Dlq,
    Late,
}

impl OutputKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Decisions => "decisions",
            Self::Alerts => "alerts",
            Self::Dlq => "dlq",
            Self::Late => "late",
        }
    }
}

/// One emitted record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Decision(DecisionRecord),
    Alert(AlertRecord),
    Dlq(DlqRecord),
    Late(LateRecord),
}

impl Output {
    pub fn kind(&self) -> OutputKind {
        match self {
            Self::Decision(_) => OutputKind::Decisions,
            Self::Alert(_) => OutputKind::Alerts,
            Self::Dlq(_) => OutputKind::Dlq,
            Self::Late(_) => OutputKind::Late,
        }
    }

    /// Kafka key: card_id for decisions/alerts (keeps a card's outputs ordered in one partition),
    /// the original key for DLQ/late records.
    pub fn key_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Decision(d) => Some(d.card_id.as_bytes()),
            Self::Alert(a) => Some(a.card_id.as_bytes()),
            Self::Dlq(d) => d.key.as_deref(),
            Self::Late(l) => l.key.as_deref(),
        }
    }

    /// Deterministic JSON value bytes.
    pub fn to_json_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Self::Decision(d) => serde_json::to_vec(d),
            Self::Alert(a) => serde_json::to_vec(a),
            Self::Dlq(d) => serde_json::to_vec(d),
            Self::Late(l) => serde_json::to_vec(l),
        }
    }
}

impl DecisionRecord {
    pub fn new(
        auth: &Authorization,
        scored: &Scored,
        features: FeatureVector,
        model_version: &str,
        source_partition: i32,
        source_offset: i64,
    ) -> Self {
        Self {
            txn_id: auth.txn_id.clone(),
            card_id: auth.card_id.clone(),
            decision: scored.decision,
            score: scored.score,
            reasons: scored.reasons.clone(),
            features,
            model_version: model_version.to_owned(),
            source_partition,
            source_offset,
            event_time_ms: auth.event_time_ms,
        }
    }
}

impl AlertRecord {
    pub fn new(auth: &Authorization, decision: &DecisionRecord) -> Self {
        Self {
            txn_id: auth.txn_id.clone(),
            card_id: auth.card_id.clone(),
            account_id: auth.account_id.clone(),
            merchant_id: auth.merchant_id.clone(),
            amount_minor: auth.amount_minor,
            currency: auth.currency.clone(),
            country: auth.country.clone(),
            decision: decision.decision,
            score: decision.score,
            reasons: decision.reasons.clone(),
            model_version: decision.model_version.clone(),
            source_partition: decision.source_partition,
            source_offset: decision.source_offset,
            event_time_ms: auth.event_time_ms,
        }
    }
}

impl DlqRecord {
    pub fn new(rec: &InputRecord<'_>, err: &DecodeError) -> Self {
        let key = Kept::of(rec.key);
        let value = Kept::of(rec.value);
        Self {
            source_topic: rec.topic,
            source_partition: rec.partition,
            source_offset: rec.offset,
            error_kind: err.kind().to_owned(),
            reason: err.to_string(),
            key: key.bytes,
            value: value.bytes,
            key_len: key.cut_len,
            key_sha256: key.cut_sha256,
            value_len: value.cut_len,
            value_sha256: value.cut_sha256,
        }
    }
}

/// Raw bytes as a DLQ record keeps them: at most [`DLQ_KEEP_BYTES`], and what identifies the whole when cut.
struct Kept {
    bytes: Option<Vec<u8>>,
    cut_len: Option<u64>,
    cut_sha256: Option<String>,
}

impl Kept {
    fn of(raw: Option<&[u8]>) -> Kept {
        match raw {
            Some(b) if b.len() > DLQ_KEEP_BYTES => Kept {
                bytes: b.get(..DLQ_KEEP_BYTES).map(<[u8]>::to_vec),
                cut_len: u64::try_from(b.len()).ok(),
                cut_sha256: Some(crate::hex::encode(&Sha256::digest(b))),
            },
            _ => Kept {
                bytes: raw.map(<[u8]>::to_vec),
                cut_len: None,
                cut_sha256: None,
            },
        }
    }
}

impl LateRecord {
    pub fn new(
        rec: &InputRecord<'_>,
        card_id: &str,
        event_time_ms: i64,
        watermark_ms: i64,
    ) -> Self {
        Self {
            source_topic: rec.topic,
            source_partition: rec.partition,
            source_offset: rec.offset,
            card_id: card_id.to_owned(),
            event_time_ms,
            watermark_ms,
            key: rec.key.map(<[u8]>::to_vec),
            value: rec.value.map(<[u8]>::to_vec),
        }
    }
}

/// serde adapter: `Option<Vec<u8>>` as an optional lowercase hex string.
pub(crate) mod hex_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_some(&crate::hex::encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| crate::hex::decode(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}
