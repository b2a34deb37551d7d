//! `DecisionRecord` ⇄ Arrow record batches in the audit schema.
//!
//! Batches are built against the Arrow schema derived from the *table's* current Iceberg schema
//! (which carries the Parquet field ids iceberg-rust needs), so ids reassigned by a catalog at
//! creation never break writes. Reading casts each column to the type we expect first, so a
//! file written by another engine (e.g. large strings) still decodes.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, ListArray, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, SchemaRef, TimeUnit};
use sluice_core::features::FeatureVector;
use sluice_core::model::{Decision, ReasonCode};
use sluice_core::processor::DecisionRecord;

use crate::error::{AuditError, Result};
use crate::schema::col;

/// Encodes `rows` (in the given order) as one batch with `schema`'s column order.
pub fn to_batch(table: &str, schema: &SchemaRef, rows: &[&DecisionRecord]) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        columns.push(column(table, field, rows)?);
    }
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| AuditError::column(table, "<batch>", e))
}

fn strings<'a>(rows: &[&'a DecisionRecord], f: impl Fn(&'a DecisionRecord) -> &'a str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| f(r))))
}

fn longs(rows: &[&DecisionRecord], f: impl Fn(&DecisionRecord) -> i64) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| f(r))))
}

fn opt_longs(rows: &[&DecisionRecord], f: impl Fn(&DecisionRecord) -> Option<i64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter(rows.iter().map(|r| f(r))))
}

fn bools(rows: &[&DecisionRecord], f: impl Fn(&DecisionRecord) -> bool) -> ArrayRef {
    Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(f(r)))))
}

/// Counters are u64 in the feature vector but Iceberg has no unsigned long, and event times
/// become microseconds: refuse (rather than wrap or saturate) a value that does not fit, so the
/// audit never shows a wrong number.
fn checked(
    table: &str,
    rows: &[&DecisionRecord],
    field: &'static str,
    f: impl Fn(&DecisionRecord) -> Option<i64>,
) -> Result<Vec<i64>> {
    rows.iter()
        .map(|r| {
            f(r).ok_or_else(|| AuditError::Value {
                table: table.to_string(),
                txn_id: r.txn_id.clone(),
                field,
                reason: "does not fit the column's 64-bit range".to_string(),
            })
        })
        .collect()
}

fn column(table: &str, field: &Field, rows: &[&DecisionRecord]) -> Result<ArrayRef> {
    let array: ArrayRef = match field.name().as_str() {
        col::TXN_ID => strings(rows, |r| &r.txn_id),
        col::CARD_ID => strings(rows, |r| &r.card_id),
        col::EVENT_TIME => {
            let tz = match field.data_type() {
                DataType::Timestamp(TimeUnit::Microsecond, tz) => tz.clone(),
                other => return Err(AuditError::column(table, field.name(), other)),
            };
            let micros = checked(table, rows, col::EVENT_TIME, |r| {
                r.event_time_ms.checked_mul(1000)
            })?;
            let array = TimestampMicrosecondArray::from(micros);
            Arc::new(array.with_timezone_opt(tz))
        }
        col::DECISION => strings(rows, |r| r.decision.as_str()),
        col::SCORE => longs(rows, |r| r.score),
        col::REASONS => {
            let DataType::List(element) = field.data_type() else {
                return Err(AuditError::column(table, field.name(), field.data_type()));
            };
            let mut builder = ListBuilder::new(StringBuilder::new()).with_field(element.clone());
            for r in rows {
                for reason in &r.reasons {
                    builder.values().append_value(reason.as_str());
                }
                builder.append(true);
            }
            Arc::new(builder.finish())
        }
        col::TXN_COUNT_60S => Arc::new(Int64Array::from(checked(
            table,
            rows,
            col::TXN_COUNT_60S,
            |r| i64::try_from(r.features.txn_count_60s).ok(),
        )?)),
        col::DISTINCT_MERCHANTS_10M => Arc::new(Int64Array::from(checked(
            table,
            rows,
            col::DISTINCT_MERCHANTS_10M,
            |r| i64::try_from(r.features.distinct_merchants_10m).ok(),
        )?)),
        col::AMOUNT_SUM_1H_MINOR => longs(rows, |r| r.features.amount_sum_1h_minor),
        col::DEVICE_SEEN_BEFORE => bools(rows, |r| r.features.device_seen_before),
        col::DEVICE_TRUSTED => bools(rows, |r| r.features.device_trusted),
        col::MS_SINCE_PREV_TXN => opt_longs(rows, |r| r.features.ms_since_prev_txn),
        col::COUNTRY_MISMATCH => bools(rows, |r| r.features.country_mismatch),
        col::AMOUNT_RATIO_30D_BP => opt_longs(rows, |r| r.features.amount_ratio_30d_bp),
        col::CARD_BLOCKED => bools(rows, |r| r.features.card_blocked),
        col::MODEL_VERSION => strings(rows, |r| &r.model_version),
        col::SOURCE_PARTITION => Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.source_partition),
        )),
        col::SOURCE_OFFSET => longs(rows, |r| r.source_offset),
        other => {
            return Err(AuditError::column(
                table,
                other,
                "the table has a column this version of sluice-audit does not write",
            ));
        }
    };
    Ok(array)
}

/// Typed access to the columns of a batch read back from the table.
struct Columns<'a> {
    table: &'a str,
    batch: &'a RecordBatch,
}

impl Columns<'_> {
    fn get(&self, name: &str, ty: &DataType) -> Result<ArrayRef> {
        let array = self
            .batch
            .column_by_name(name)
            .ok_or_else(|| AuditError::column(self.table, name, "missing from the scan"))?;
        arrow_cast::cast(array, ty).map_err(|e| AuditError::column(self.table, name, e))
    }

    fn strings(&self, name: &str) -> Result<StringArray> {
        Ok(self.get(name, &DataType::Utf8)?.as_string::<i32>().clone())
    }

    fn longs(&self, name: &str) -> Result<Int64Array> {
        Ok(self
            .get(name, &DataType::Int64)?
            .as_primitive::<Int64Type>()
            .clone())
    }

    fn bools(&self, name: &str) -> Result<BooleanArray> {
        Ok(self.get(name, &DataType::Boolean)?.as_boolean().clone())
    }
}

/// Decodes a batch read with all columns back into decision records.
pub fn from_batch(table: &str, batch: &RecordBatch) -> Result<Vec<DecisionRecord>> {
    let scanned = Scanned::read(&Columns { table, batch })?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        out.push(scanned.record(Row { table, i })?);
    }
    Ok(out)
}

/// Every column of a scanned batch, cast to the type it is read as.
struct Scanned {
    txn_id: StringArray,
    card_id: StringArray,
    event_time: TimestampMicrosecondArray,
    decision: StringArray,
    score: Int64Array,
    reasons: ListArray,
    txn_count: Int64Array,
    amount_sum: Int64Array,
    merchants: Int64Array,
    seen: BooleanArray,
    trusted: BooleanArray,
    since_prev: Int64Array,
    mismatch: BooleanArray,
    ratio: Int64Array,
    blocked: BooleanArray,
    model: StringArray,
    partition: Int32Array,
    offset: Int64Array,
}

impl Scanned {
    fn read(c: &Columns<'_>) -> Result<Self> {
        let event_time_type = DataType::Timestamp(TimeUnit::Microsecond, None);
        let reasons_type = DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)));
        Ok(Self {
            txn_id: c.strings(col::TXN_ID)?,
            card_id: c.strings(col::CARD_ID)?,
            event_time: c
                .get(col::EVENT_TIME, &event_time_type)?
                .as_primitive::<TimestampMicrosecondType>()
                .clone(),
            decision: c.strings(col::DECISION)?,
            score: c.longs(col::SCORE)?,
            reasons: c.get(col::REASONS, &reasons_type)?.as_list::<i32>().clone(),
            txn_count: c.longs(col::TXN_COUNT_60S)?,
            amount_sum: c.longs(col::AMOUNT_SUM_1H_MINOR)?,
            merchants: c.longs(col::DISTINCT_MERCHANTS_10M)?,
            seen: c.bools(col::DEVICE_SEEN_BEFORE)?,
            trusted: c.bools(col::DEVICE_TRUSTED)?,
            since_prev: c.longs(col::MS_SINCE_PREV_TXN)?,
            mismatch: c.bools(col::COUNTRY_MISMATCH)?,
            ratio: c.longs(col::AMOUNT_RATIO_30D_BP)?,
            blocked: c.bools(col::CARD_BLOCKED)?,
            model: c.strings(col::MODEL_VERSION)?,
            partition: c
                .get(col::SOURCE_PARTITION, &DataType::Int32)?
                .as_primitive::<Int32Type>()
                .clone(),
            offset: c.longs(col::SOURCE_OFFSET)?,
        })
    }

    /// Row `row.i` as a decision record; a null in a required column is an error.
    fn record(&self, row: Row<'_>) -> Result<DecisionRecord> {
        let codes = self.reasons_at(row)?;
        let event_micros = row.required(
            col::EVENT_TIME,
            (!self.event_time.is_null(row.i)).then(|| self.event_time.value(row.i)),
        )?;
        Ok(DecisionRecord {
            txn_id: row.str_at(&self.txn_id, col::TXN_ID)?,
            card_id: row.str_at(&self.card_id, col::CARD_ID)?,
            decision: parse_enum::<Decision>(
                row.table,
                col::DECISION,
                &row.str_at(&self.decision, col::DECISION)?,
            )?,
            score: row.long_at(&self.score, col::SCORE)?,
            reasons: codes,
            features: self.features_at(row)?,
            model_version: row.str_at(&self.model, col::MODEL_VERSION)?,
            source_partition: row.required(
                col::SOURCE_PARTITION,
                (!self.partition.is_null(row.i)).then(|| self.partition.value(row.i)),
            )?,
            source_offset: row.long_at(&self.offset, col::SOURCE_OFFSET)?,
            event_time_ms: event_micros.div_euclid(1000),
        })
    }

    fn reasons_at(&self, row: Row<'_>) -> Result<Vec<ReasonCode>> {
        let reason_list = row.required(
            col::REASONS,
            (!self.reasons.is_null(row.i)).then_some(row.i),
        )?;
        let reason_values = self.reasons.value(reason_list);
        let reason_strings = reason_values.as_string::<i32>();
        let mut codes = Vec::with_capacity(reason_strings.len());
        for code in reason_strings.iter() {
            let code = row.required(col::REASONS, code)?;
            codes.push(parse_enum::<ReasonCode>(row.table, col::REASONS, code)?);
        }
        Ok(codes)
    }

    fn features_at(&self, row: Row<'_>) -> Result<FeatureVector> {
        Ok(FeatureVector {
            txn_count_60s: row.unsigned_at(&self.txn_count, col::TXN_COUNT_60S)?,
            amount_sum_1h_minor: row.long_at(&self.amount_sum, col::AMOUNT_SUM_1H_MINOR)?,
            distinct_merchants_10m: row
                .unsigned_at(&self.merchants, col::DISTINCT_MERCHANTS_10M)?,
            device_seen_before: row.bool_at(&self.seen, col::DEVICE_SEEN_BEFORE)?,
            device_trusted: row.bool_at(&self.trusted, col::DEVICE_TRUSTED)?,
            ms_since_prev_txn: row.opt(&self.since_prev),
            country_mismatch: row.bool_at(&self.mismatch, col::COUNTRY_MISMATCH)?,
            amount_ratio_30d_bp: row.opt(&self.ratio),
            card_blocked: row.bool_at(&self.blocked, col::CARD_BLOCKED)?,
        })
    }
}

/// One row of a scanned batch: typed reads of its cells, naming table, column and row on a null.
#[derive(Clone, Copy)]
struct Row<'a> {
    table: &'a str,
    i: usize,
}

impl Row<'_> {
    fn required<T>(self, column: &str, v: Option<T>) -> Result<T> {
        v.ok_or_else(|| AuditError::column(self.table, column, format!("null in row {}", self.i)))
    }

    fn opt(self, a: &Int64Array) -> Option<i64> {
        (!a.is_null(self.i)).then(|| a.value(self.i))
    }

    fn str_at(self, a: &StringArray, name: &str) -> Result<String> {
        self.required(
            name,
            (!a.is_null(self.i)).then(|| a.value(self.i).to_string()),
        )
    }

    fn long_at(self, a: &Int64Array, name: &str) -> Result<i64> {
        self.required(name, self.opt(a))
    }

    fn bool_at(self, a: &BooleanArray, name: &str) -> Result<bool> {
        self.required(name, (!a.is_null(self.i)).then(|| a.value(self.i)))
    }

    fn unsigned_at(self, a: &Int64Array, name: &str) -> Result<u64> {
        let v = self.long_at(a, name)?;
        u64::try_from(v).map_err(|_| AuditError::column(self.table, name, format!("{v} < 0")))
    }
}

/// Decision and reason codes are stored as their stable wire strings (the serde names).
fn parse_enum<T: serde::de::DeserializeOwned>(table: &str, column: &str, s: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|e| AuditError::column(table, column, format!("{s:?}: {e}")))
}
