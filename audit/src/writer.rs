//! Writing one append's rows as Parquet data files, one set per event day.
//!
//! Files are written but not yet referenced by any snapshot: until the catalog commit they are
//! invisible to readers, and a crash leaves only orphans (removable by Iceberg's orphan-file
//! cleanup), never partial data.

use std::collections::BTreeMap;
use std::sync::Arc;

use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::{
    DataFile, DataFileFormat, Datum, Literal, PartitionKey, PrimitiveLiteral, Struct,
};
use iceberg::table::Table;
use iceberg::transform::create_transform_function;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sluice_core::processor::DecisionRecord;

use crate::error::{AuditError, Result};
use crate::rows::to_batch;

/// Rows per Arrow batch handed to the writer. The rolling writer checks the file size between
/// batches, so smaller batches make files end closer to the target size.
const ROWS_PER_BATCH: usize = 4096;

/// Writes `rows` (kept in the given order within each day) and returns the data files, in day
/// order. `file_prefix` must be unique per append so two appends never pick the same file name.
pub async fn write_data_files(
    table: &Table,
    name: &str,
    rows: &[DecisionRecord],
    target_file_size_bytes: u64,
    file_prefix: &str,
) -> Result<Vec<DataFile>> {
    let ice = |action, e| AuditError::iceberg(name, action, e);
    let metadata = table.metadata();
    let schema = metadata.current_schema().clone();
    let arrow_schema =
        Arc::new(schema_to_arrow_schema(&schema).map_err(|e| ice("deriving the Arrow schema", e))?);
    let spec = metadata.default_partition_spec().clone();
    let days = group_by_day(table, name, rows)?;

    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let location =
        DefaultLocationGenerator::new(metadata).map_err(|e| ice("locating data files", e))?;
    let names =
        DefaultFileNameGenerator::new(file_prefix.to_string(), None, DataFileFormat::Parquet);
    let rolling = RollingFileWriterBuilder::new(
        ParquetWriterBuilder::new(props, schema.clone()),
        usize::try_from(target_file_size_bytes).unwrap_or(usize::MAX),
        table.file_io().clone(),
        location,
        names,
    );
    let builder = DataFileWriterBuilder::new(rolling);

    let mut files = Vec::new();
    for (day, day_rows) in days {
        let key = PartitionKey::new(
            spec.as_ref().clone(),
            schema.clone(),
            Struct::from_iter([Some(Literal::from(day))]),
        );
        let mut writer = builder
            .build(Some(key))
            .await
            .map_err(|e| ice("opening a data file writer", e))?;
        for chunk in day_rows.chunks(ROWS_PER_BATCH) {
            let batch = to_batch(name, &arrow_schema, chunk)?;
            writer
                .write(batch)
                .await
                .map_err(|e| ice("writing a data file", e))?;
        }
        let written = writer
            .close()
            .await
            .map_err(|e| ice("closing a data file", e))?;
        files.extend(written);
    }
    tracing::debug!(
        table = name,
        rows = rows.len(),
        files = files.len(),
        "audit data files written"
    );
    Ok(files)
}

/// Groups rows by the partition value of `day(event_time)`, computed with the table's own
/// transform so the value always matches what readers prune on.
fn group_by_day<'a>(
    table: &Table,
    name: &str,
    rows: &'a [DecisionRecord],
) -> Result<BTreeMap<DayKey, Vec<&'a DecisionRecord>>> {
    let spec = table.metadata().default_partition_spec();
    let field = spec.fields().first().ok_or_else(|| {
        AuditError::column(name, "event_day", "the table's partition spec has no field")
    })?;
    let transform = create_transform_function(&field.transform)
        .map_err(|e| AuditError::iceberg(name, "creating the day transform", e))?;
    let mut days: BTreeMap<DayKey, Vec<&DecisionRecord>> = BTreeMap::new();
    for row in rows {
        let micros = row
            .event_time_ms
            .checked_mul(1000)
            .ok_or_else(|| AuditError::Value {
                table: name.to_string(),
                txn_id: row.txn_id.clone(),
                field: "event_time",
                reason: format!("{} ms is out of the timestamp range", row.event_time_ms),
            })?;
        let day = transform
            .transform_literal_result(&Datum::timestamptz_micros(micros))
            .map_err(|e| AuditError::iceberg(name, "computing the event day", e))?;
        days.entry(DayKey(day)).or_default().push(row);
    }
    Ok(days)
}

/// A partition value ordered by day number (Datum is not `Ord`).
#[derive(Debug, Clone, PartialEq)]
struct DayKey(Datum);

impl DayKey {
    fn days(&self) -> i64 {
        match self.0.literal() {
            PrimitiveLiteral::Int(d) => i64::from(*d),
            PrimitiveLiteral::Long(d) => *d,
            _ => 0,
        }
    }
}

impl Eq for DayKey {}

impl PartialOrd for DayKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DayKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.days().cmp(&other.days())
    }
}

impl From<DayKey> for Literal {
    fn from(day: DayKey) -> Self {
        Literal::from(day.0)
    }
}
