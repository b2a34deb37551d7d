//! The throughput run's result (written as JSON) and its Markdown table.

use serde::Serialize;

use super::compare::DecisionComparison;
use super::kill_restart::RecoveryResult;
use super::latency::LatencyResult;
use super::stats::Percentiles;
use super::timeline::Sample;

#[derive(Debug, Default, Serialize)]
pub struct Drain {
    pub records: u64,
    pub seconds: f64,
    pub records_per_sec: f64,
    pub cpu_seconds: f64,
    pub records_per_cpu_sec: f64,
    pub cpu_sec_per_million: f64,
    pub peak_rss_mib: f64,
    /// The group's committed input offsets about every second (the throughput-over-time plot).
    pub timeline: Vec<Sample>,
}

#[derive(Debug, Default, Serialize)]
pub struct SystemResult {
    pub drain: Drain,
    pub latency: LatencyResult,
    /// kill -9 mid-phase and restart (Sluice only; None when skipped).
    pub recovery: Option<RecoveryResult>,
}

/// Sluice's latency percentiles ÷ another system's.
#[derive(Debug, Default, Serialize)]
pub struct LatencyRatio {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

impl LatencyRatio {
    pub fn of(a: &LatencyResult, b: &LatencyResult) -> LatencyRatio {
        let r = |x: f64, y: f64| x / y.max(1e-9);
        let (a, b) = (&a.percentiles, &b.percentiles);
        LatencyRatio {
            p50: r(a.p50_ms, b.p50_ms),
            p99: r(a.p99_ms, b.p99_ms),
            p999: r(a.p999_ms, b.p999_ms),
        }
    }
}

/// The Flink peer's drain, its outputs and how its decisions compare with Sluice's.
#[derive(Debug, Default, Serialize)]
pub struct FlinkResult {
    pub drain: Drain,
    pub parallelism: i32,
    pub checkpoint_interval_ms: u64,
    pub heap_mib: u32,
    /// How the end of the drain was detected.
    pub ended_by: String,
    pub drain_decisions: i64,
    pub drain_late: i64,
    pub drain_dlq: i64,
    /// Sluice = A, Flink = B.
    pub decisions_vs_sluice: DecisionComparison,
    /// The fixed-rate phase on fresh topics (unbounded job), like Sluice's.
    pub latency: Option<LatencyResult>,
    /// Why Flink's latency cannot go below a floor in this setup (stated with the numbers).
    pub latency_floor: String,
    pub recovery: Option<RecoveryResult>,
}

#[derive(Debug, Default, Serialize)]
pub struct BenchResult {
    pub unix_time: u64,
    pub provenance: sluice_testbed::provenance::Provenance,
    pub quick: bool,
    pub machine: String,
    pub authorizations: u64,
    pub input_records: u64,
    pub partitions: i32,
    pub latency_rate: u32,
    pub latency_secs: u64,
    pub commit_interval_ms: u64,
    pub sluice: SystemResult,
    pub ceiling: SystemResult,
    pub sluice_vs_ceiling_throughput: f64,
    /// Output counts of the Sluice drain: a drain that routes records to `late` is not doing the real work.
    pub sluice_drain_decisions: i64,
    pub sluice_drain_late: i64,
    pub sluice_drain_dlq: i64,
    pub flink: Option<FlinkResult>,
    /// Sluice drain records/s ÷ Flink's, and the same per CPU-second (None without Flink).
    pub sluice_vs_flink_throughput: Option<f64>,
    pub sluice_vs_flink_per_cpu: Option<f64>,
    /// Sluice peak RSS ÷ Flink's.
    pub sluice_vs_flink_rss: Option<f64>,
    pub sluice_vs_flink_latency: Option<LatencyRatio>,
    pub sluice_vs_ceiling_latency: LatencyRatio,
    /// Append → read latency of the input topic itself at the same rate, with no system in between: the load
    /// producer, the broker and a plain reader (None when skipped).
    pub floor_latency: Option<Percentiles>,
    /// PNG files written from this JSON (`<out>.latency-cdf.png`, `<out>.throughput.png`).
    pub plots: Vec<String>,
}

/// Prints the Markdown comparison table (drain, then latency), the latency floor, the restart row and each
/// system's exactly-once check after kill -9, then how Flink's decisions compare with Sluice's.
pub fn print_table(r: &BenchResult) {
    let flink = r.flink.as_ref();
    print_comparison(r);
    if let Some(f) = &r.floor_latency {
        println!(
            "\nlatency floor (input topic read back, nothing in between) p50 / p99 / p99.9 ms: {:.1} / {:.1} / {:.1}",
            f.p50_ms, f.p99_ms, f.p999_ms
        );
    }
    print_recovery(r);
    if let Some(f) = flink {
        print_flink_decisions(f);
    }
}

/// One table row: Sluice, the ceiling and their ratio, Flink and Sluice's ratio to it ("–" without Flink).
fn print_row(name: &str, s: f64, c: f64, f: Option<f64>) {
    let (fv, ratio) = match f {
        Some(f) => (format!("{f:.1}"), format!("{:.2}", s / f.max(1e-9))),
        None => ("–".to_string(), "–".to_string()),
    };
    println!(
        "| {name} | {s:.1} | {c:.1} | {:.2} | {fv} | {ratio} |",
        s / c.max(1e-9)
    )
}

/// The table's header, its drain rows and its latency rows.
fn print_comparison(r: &BenchResult) {
    let flink = r.flink.as_ref();
    println!(
        "\n| metric | Sluice | ceiling (identity pipe) | Sluice/ceiling | Flink | Sluice/Flink |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let (s, c) = (&r.sluice.drain, &r.ceiling.drain);
    let fd = flink.map(|f| &f.drain);
    print_row(
        "drain records/s",
        s.records_per_sec,
        c.records_per_sec,
        fd.map(|d| d.records_per_sec),
    );
    print_row(
        "records per CPU-second",
        s.records_per_cpu_sec,
        c.records_per_cpu_sec,
        fd.map(|d| d.records_per_cpu_sec),
    );
    print_row(
        "CPU s per million records",
        s.cpu_sec_per_million,
        c.cpu_sec_per_million,
        fd.map(|d| d.cpu_sec_per_million),
    );
    print_row(
        "peak RSS MiB",
        s.peak_rss_mib,
        c.peak_rss_mib,
        fd.map(|d| d.peak_rss_mib),
    );
    let (sl, cl) = (
        &r.sluice.latency.percentiles,
        &r.ceiling.latency.percentiles,
    );
    let fl = flink
        .and_then(|f| f.latency.as_ref())
        .map(|l| &l.percentiles);
    print_row("latency p50 ms", sl.p50_ms, cl.p50_ms, fl.map(|l| l.p50_ms));
    print_row("latency p99 ms", sl.p99_ms, cl.p99_ms, fl.map(|l| l.p99_ms));
    print_row(
        "latency p99.9 ms",
        sl.p999_ms,
        cl.p999_ms,
        fl.map(|l| l.p999_ms),
    );
}

/// The restart row (when Sluice's recovery ran) and, per system, the exactly-once check after kill -9.
fn print_recovery(r: &BenchResult) {
    let flink = r.flink.as_ref();
    let rec = |x: Option<&RecoveryResult>| x.map(|r| r.first_new_decision_ms);
    if let Some(s) = rec(r.sluice.recovery.as_ref()) {
        let (fv, ratio) = match rec(flink.and_then(|f| f.recovery.as_ref())) {
            Some(f) => (format!("{f:.1}"), format!("{:.2}", s / f.max(1e-9))),
            None => ("–".to_string(), "–".to_string()),
        };
        println!("| restart → first new decision ms | {s:.1} | – | – | {fv} | {ratio} |");
    }
    for (name, x) in [
        ("Sluice", r.sluice.recovery.as_ref()),
        ("Flink", flink.and_then(|f| f.recovery.as_ref())),
    ] {
        if let Some(x) = x {
            let e = &x.exactly_once;
            println!(
                "\n{name} after kill -9 at {:.1}s: {} window authorizations, {} decisions, {} duplicates, {} losses {:?}",
                x.killed_at_secs,
                e.window_authorizations,
                e.decisions,
                e.duplicates,
                e.losses,
                e.lost_ranges
            );
        }
    }
}

/// Flink's latency floor and how its decisions compare with Sluice's.
fn print_flink_decisions(f: &FlinkResult) {
    println!("\nFlink latency floor: {}", f.latency_floor);
    let d = &f.decisions_vs_sluice;
    println!(
        "\ndecisions: Sluice {} / Flink {}; both decided {}; equal {} ({:.4}); mismatched {}; \
         Sluice-only {} (Flink late {}), Flink-only {} (Sluice late {}); late records Sluice {} / Flink {}; \
         all differences explained: {}",
        d.a_decisions,
        d.b_decisions,
        d.both_decided,
        d.equal,
        d.equal_share(),
        d.mismatched,
        d.a_only_b_late + d.a_only_unexplained,
        d.a_only_b_late,
        d.b_only_a_late + d.b_only_unexplained,
        d.b_only_a_late,
        d.a_late,
        d.b_late,
        d.explained()
    );
    for (reason, n) in &d.mismatch_reasons {
        println!("  mismatch: {n} × {reason}");
    }
}
