//! The audit table's Iceberg schema and partition spec.
//!
//! One typed column per feature (not a JSON blob) so that engines can filter and aggregate on
//! features directly. Column names are the `DecisionRecord` field names; changing one is a schema
//! evolution, so append new columns at the end and never reuse an id.

use iceberg::spec::{
    ListType, NestedField, PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec,
};

/// Column names, shared by the writer, the reader and the tests.
pub mod col {
    pub const TXN_ID: &str = "txn_id";
    pub const CARD_ID: &str = "card_id";
    pub const EVENT_TIME: &str = "event_time";
    pub const DECISION: &str = "decision";
    pub const SCORE: &str = "score";
    pub const REASONS: &str = "reasons";
    pub const TXN_COUNT_60S: &str = "txn_count_60s";
    pub const AMOUNT_SUM_1H_MINOR: &str = "amount_sum_1h_minor";
    pub const DISTINCT_MERCHANTS_10M: &str = "distinct_merchants_10m";
    pub const DEVICE_SEEN_BEFORE: &str = "device_seen_before";
    pub const DEVICE_TRUSTED: &str = "device_trusted";
    pub const MS_SINCE_PREV_TXN: &str = "ms_since_prev_txn";
    pub const COUNTRY_MISMATCH: &str = "country_mismatch";
    pub const AMOUNT_RATIO_30D_BP: &str = "amount_ratio_30d_bp";
    pub const CARD_BLOCKED: &str = "card_blocked";
    pub const MODEL_VERSION: &str = "model_version";
    pub const SOURCE_PARTITION: &str = "source_partition";
    pub const SOURCE_OFFSET: &str = "source_offset";
}

/// Name of the partition field (day transform of `event_time`).
pub const PARTITION_FIELD: &str = "event_day";

/// Id of the `reasons` list element (ids 1..=18 are the top-level columns).
const REASONS_ELEMENT_ID: i32 = 19;
const EVENT_TIME_ID: i32 = 3;

/// The audit schema. Event time is `timestamptz` (UTC microseconds): decision event times are
/// epoch milliseconds in UTC, and a zone-less `timestamp` would invite local-time readings.
pub fn audit_schema() -> iceberg::Result<Schema> {
    use PrimitiveType::{Boolean, Int, Long, String as Str, Timestamptz};
    let p = Type::Primitive;
    let reasons = Type::List(ListType {
        element_field: NestedField::list_element(REASONS_ELEMENT_ID, p(Str), true).into(),
    });
    let fields = vec![
        NestedField::required(1, col::TXN_ID, p(Str)),
        NestedField::required(2, col::CARD_ID, p(Str)),
        NestedField::required(EVENT_TIME_ID, col::EVENT_TIME, p(Timestamptz)),
        NestedField::required(4, col::DECISION, p(Str)).with_doc("APPROVE, REVIEW or DECLINE"),
        NestedField::required(5, col::SCORE, p(Long)),
        NestedField::required(6, col::REASONS, reasons).with_doc("reason codes in rule order"),
        NestedField::required(7, col::TXN_COUNT_60S, p(Long)),
        NestedField::required(8, col::AMOUNT_SUM_1H_MINOR, p(Long)),
        NestedField::required(9, col::DISTINCT_MERCHANTS_10M, p(Long)),
        NestedField::required(10, col::DEVICE_SEEN_BEFORE, p(Boolean)),
        NestedField::required(11, col::DEVICE_TRUSTED, p(Boolean)),
        NestedField::optional(12, col::MS_SINCE_PREV_TXN, p(Long))
            .with_doc("null for the card's first authorization"),
        NestedField::required(13, col::COUNTRY_MISMATCH, p(Boolean)),
        NestedField::optional(14, col::AMOUNT_RATIO_30D_BP, p(Long))
            .with_doc("null without 30-day history"),
        NestedField::required(15, col::CARD_BLOCKED, p(Boolean)),
        NestedField::required(16, col::MODEL_VERSION, p(Str)),
        NestedField::required(17, col::SOURCE_PARTITION, p(Int)),
        NestedField::required(18, col::SOURCE_OFFSET, p(Long)),
    ];
    Schema::builder()
        .with_fields(fields.into_iter().map(Into::into))
        .build()
}

/// `day(event_time)`, so a day's audit data can be read, compacted or expired on its own.
pub fn audit_partition_spec() -> iceberg::Result<UnboundPartitionSpec> {
    Ok(UnboundPartitionSpec::builder()
        .add_partition_field(EVENT_TIME_ID, PARTITION_FIELD, Transform::Day)?
        .build())
}
