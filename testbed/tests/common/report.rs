//! The reliability summary (issue 8): each end-to-end scenario adds one row — scenario, events, kills, and
//! what `sluice verify` found. Rows are appended as JSON lines to `$SLUICE_RELIABILITY_REPORT` when set
//! (`./test.sh` sets it and prints the table at the end), and can be rendered as a Markdown table.

use std::fmt::Write as _;
use std::io::Write as _;

use sluice_cli::verify::VerifyReport;
use sluice_testbed::provenance::{Provenance, machine};

/// One scenario's outcome.
pub struct Row {
    pub scenario: String,
    pub events: String,
    pub kills: u32,
    /// (duplicates, losses, mismatches) from `verify`; None for scenarios that process no data (e.g.
    /// admission checks).
    pub verified: Option<(u64, u64, u64)>,
    pub seconds: f64,
}

impl Row {
    /// Appends the row to `$SLUICE_RELIABILITY_REPORT`, if set.
    pub fn record(&self) {
        let Ok(path) = std::env::var("SLUICE_RELIABILITY_REPORT") else {
            return;
        };
        let (duplicates, losses, mismatches) = match self.verified {
            Some((d, l, m)) => (Some(d), Some(l), Some(m)),
            None => (None, None, None),
        };
        let provenance = Provenance::of_this_run();
        // The test code at that commit is the scenario's configuration; what can vary from run to run is
        // the campaign size, the build profile of the binaries and the machine.
        let campaign = std::env::var("SLUICE_CAMPAIGN").unwrap_or_else(|_| "default".into());
        let profile = binaries_profile();
        let line = serde_json::json!({
            "scenario": self.scenario, "events": self.events, "kills": self.kills,
            "duplicates": duplicates, "losses": losses, "mismatches": mismatches,
            "seconds": (self.seconds * 10.0).round() / 10.0,
            "commit": provenance.commit, "dirty": provenance.dirty, "command": provenance.command,
            "campaign": campaign, "profile": profile, "machine": machine(),
        });
        // One short write per line: concurrent test processes do not interleave within a line.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// The build profile of the binaries the scenario ran: the directory they came from when it is a profile's
/// (`SLUICE_BIN_DIR=<target>/release` runs release workers under a debug test), else the test's own.
fn binaries_profile() -> &'static str {
    let dir = sluice_testbed::binaries::binary_dir().ok();
    match dir.as_deref().and_then(|d| d.file_name()?.to_str()) {
        Some("release") => "release",
        Some("debug") => "debug",
        _ if cfg!(debug_assertions) => "debug",
        _ => "release",
    }
}

/// The rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | events | kills | duplicates | losses | mismatches | time, s |\n| --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in rows {
        let (d, l, m) = match r.verified {
            Some((d, l, m)) => (d.to_string(), l.to_string(), m.to_string()),
            None => ("–".into(), "–".into(), "–".into()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {d} | {l} | {m} | {:.0} |",
            r.scenario, r.events, r.kills, r.seconds
        );
    }
    out
}

/// Records one scenario row (see [`Row::record`]) timed from `started`.
pub fn record(
    scenario: &str,
    events: impl Into<String>,
    kills: u32,
    report: Option<&VerifyReport>,
    started: std::time::Instant,
) {
    Row {
        scenario: scenario.to_string(),
        events: events.into(),
        kills,
        verified: report.map(VerifyReport::figures),
        seconds: started.elapsed().as_secs_f64(),
    }
    .record();
}
