//! `sluice audit explain --txn-id X`: the decision for one transaction and the feature vector it
//! was scored on, as the audit table held it at a chosen snapshot or time.

use std::fmt;

use serde::Serialize;
use sluice_core::processor::DecisionRecord;

use crate::error::Result;
use crate::table::{AsOf, AuditTable, SnapshotInfo};

/// The answer to one explain query; `Display` is the CLI's text output, `Serialize` its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub table: String,
    pub txn_id: String,
    /// The snapshot that was read; None when the table has no snapshot yet.
    pub snapshot: Option<SnapshotInfo>,
    /// The decision with its features; None when the txn is not in that snapshot.
    pub decision: Option<DecisionRecord>,
    /// Rows found for the txn (1 normally; more would be an exactly-once violation).
    pub matching_rows: usize,
}

/// Looks `txn_id` up as of `as_of`.
pub async fn explain(table: &AuditTable, txn_id: &str, as_of: AsOf) -> Result<Explanation> {
    let snapshot = table.snapshot_info(as_of).await?;
    let found = match &snapshot {
        Some(s) => {
            table
                .find_all(txn_id, AsOf::SnapshotId(s.snapshot_id))
                .await?
        }
        None => Vec::new(),
    };
    Ok(Explanation {
        table: table.name().to_string(),
        txn_id: txn_id.to_string(),
        snapshot,
        matching_rows: found.len(),
        decision: found.into_iter().next(),
    })
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(snapshot) = &self.snapshot else {
            return writeln!(f, "{}: no snapshot (table is empty)", self.table);
        };
        writeln!(
            f,
            "table {} snapshot {} (committed at {} ms)",
            self.table, snapshot.snapshot_id, snapshot.timestamp_ms
        )?;
        let Some(d) = &self.decision else {
            return writeln!(f, "txn {}: not found in this snapshot", self.txn_id);
        };
        if self.matching_rows > 1 {
            writeln!(
                f,
                "WARNING: {} rows for this txn (duplicate)",
                self.matching_rows
            )?;
        }
        let reasons: Vec<&str> = d.reasons.iter().map(|r| r.as_str()).collect();
        writeln!(f, "txn {}  card {}", d.txn_id, d.card_id)?;
        writeln!(
            f,
            "decision {}  score {}  reasons [{}]",
            d.decision.as_str(),
            d.score,
            reasons.join(", ")
        )?;
        writeln!(f, "model {}", d.model_version)?;
        writeln!(
            f,
            "event time {} ms  source partition {} offset {}",
            d.event_time_ms, d.source_partition, d.source_offset
        )?;
        let x = &d.features;
        writeln!(f, "features:")?;
        writeln!(f, "  txn_count_60s          {}", x.txn_count_60s)?;
        writeln!(f, "  amount_sum_1h_minor    {}", x.amount_sum_1h_minor)?;
        writeln!(f, "  distinct_merchants_10m {}", x.distinct_merchants_10m)?;
        writeln!(f, "  device_seen_before     {}", x.device_seen_before)?;
        writeln!(f, "  device_trusted         {}", x.device_trusted)?;
        writeln!(f, "  ms_since_prev_txn      {}", opt(x.ms_since_prev_txn))?;
        writeln!(f, "  country_mismatch       {}", x.country_mismatch)?;
        writeln!(f, "  amount_ratio_30d_bp    {}", opt(x.amount_ratio_30d_bp))?;
        writeln!(f, "  card_blocked           {}", x.card_blocked)
    }
}
