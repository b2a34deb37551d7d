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
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
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

fn required<T>(table: &str, column: &str, row: usize, v: Option<T>) -> Result<T> {
    v.ok_or_else(|| AuditError::column(table, column, format!("null in row {row}")))
}

/// Decodes a batch read with all columns back into decision records.
pub fn from_batch(table: &str, batch: &RecordBatch) -> Result<Vec<DecisionRecord>> {
    let c = Columns { table, batch };
    let txn_id = c.strings(col::TXN_ID)?;
    let card_id = c.strings(col::CARD_ID)?;
    let event_time = c
        .get(
            col::EVENT_TIME,
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?
        .as_primitive::<TimestampMicrosecondType>()
        .clone();
    let decision = c.strings(col::DECISION)?;
    let score = c.longs(col::SCORE)?;
    let reasons_type = DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)));
    let reasons = c.get(col::REASONS, &reasons_type)?.as_list::<i32>().clone();
    let txn_count = c.longs(col::TXN_COUNT_60S)?;
    let amount_sum = c.longs(col::AMOUNT_SUM_1H_MINOR)?;
    let merchants = c.longs(col::DISTINCT_MERCHANTS_10M)?;
    let seen = c.bools(col::DEVICE_SEEN_BEFORE)?;
    let trusted = c.bools(col::DEVICE_TRUSTED)?;
    let since_prev = c.longs(col::MS_SINCE_PREV_TXN)?;
    let mismatch = c.bools(col::COUNTRY_MISMATCH)?;
    let ratio = c.longs(col::AMOUNT_RATIO_30D_BP)?;
    let blocked = c.bools(col::CARD_BLOCKED)?;
    let model = c.strings(col::MODEL_VERSION)?;
    let partition = c
        .get(col::SOURCE_PARTITION, &DataType::Int32)?
        .as_primitive::<Int32Type>()
        .clone();
    let offset = c.longs(col::SOURCE_OFFSET)?;

    let opt = |a: &Int64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let str_at = |a: &StringArray, name: &str| {
            required(
                table,
                name,
                i,
                (!a.is_null(i)).then(|| a.value(i).to_string()),
            )
        };
        let long_at = |a: &Int64Array, name: &str| required(table, name, i, opt(a, i));
        let bool_at = |a: &BooleanArray, name: &str| {
            required(table, name, i, (!a.is_null(i)).then(|| a.value(i)))
        };
        let unsigned_at = |a: &Int64Array, name: &str| {
            let v = long_at(a, name)?;
            u64::try_from(v).map_err(|_| AuditError::column(table, name, format!("{v} < 0")))
        };
        let reason_list = required(table, col::REASONS, i, (!reasons.is_null(i)).then_some(i))?;
        let reason_values = reasons.value(reason_list);
        let reason_strings = reason_values.as_string::<i32>();
        let mut codes = Vec::with_capacity(reason_strings.len());
        for code in reason_strings.iter() {
            let code = required(table, col::REASONS, i, code)?;
            codes.push(parse_enum::<ReasonCode>(table, col::REASONS, code)?);
        }
        let event_micros = required(
            table,
            col::EVENT_TIME,
            i,
            (!event_time.is_null(i)).then(|| event_time.value(i)),
        )?;
        out.push(DecisionRecord {
            txn_id: str_at(&txn_id, col::TXN_ID)?,
            card_id: str_at(&card_id, col::CARD_ID)?,
            decision: parse_enum::<Decision>(
                table,
                col::DECISION,
                &str_at(&decision, col::DECISION)?,
            )?,
            score: long_at(&score, col::SCORE)?,
            reasons: codes,
            features: FeatureVector {
                txn_count_60s: unsigned_at(&txn_count, col::TXN_COUNT_60S)?,
                amount_sum_1h_minor: long_at(&amount_sum, col::AMOUNT_SUM_1H_MINOR)?,
                distinct_merchants_10m: unsigned_at(&merchants, col::DISTINCT_MERCHANTS_10M)?,
                device_seen_before: bool_at(&seen, col::DEVICE_SEEN_BEFORE)?,
                device_trusted: bool_at(&trusted, col::DEVICE_TRUSTED)?,
                ms_since_prev_txn: opt(&since_prev, i),
                country_mismatch: bool_at(&mismatch, col::COUNTRY_MISMATCH)?,
                amount_ratio_30d_bp: opt(&ratio, i),
                card_blocked: bool_at(&blocked, col::CARD_BLOCKED)?,
            },
            model_version: str_at(&model, col::MODEL_VERSION)?,
            source_partition: required(
                table,
                col::SOURCE_PARTITION,
                i,
                (!partition.is_null(i)).then(|| partition.value(i)),
            )?,
            source_offset: long_at(&offset, col::SOURCE_OFFSET)?,
            event_time_ms: event_micros.div_euclid(1000),
        });
    }
    Ok(out)
}

/// Decision and reason codes are stored as their stable wire strings (the serde names).
fn parse_enum<T: serde::de::DeserializeOwned>(table: &str, column: &str, s: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|e| AuditError::column(table, column, format!("{s:?}: {e}")))
}
