//! The live progress line on stderr and the ingest→commit latency histogram behind its p99. Metrics only:
//! they read the wall clock, and nothing here feeds back into what is processed or committed.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::commit_log::OutputCounts;

/// Ingest→commit latencies in microseconds (HdrHistogram: constant memory, no allocation per sample, values
/// kept to two significant digits). `Histogram::new_with_bounds` fails only for bounds or digits out of its range; the
/// `Option` keeps that impossible case from panicking (the line would show no p99).
#[derive(Clone, Debug)]
pub struct LatencyHistogram(Option<Histogram<u64>>);

/// Significant digits the histogram keeps: a reported quantile is within 1 % of the true value.
const SIGNIFICANT_DIGITS: u8 = 2;
/// The largest latency told apart, µs (an hour); longer ones count as an hour.
const MAX_LATENCY_US: u64 = 3_600_000_000;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGNIFICANT_DIGITS).ok())
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if let Some(h) = &mut self.0 {
            h.saturating_record(us);
        }
    }

    pub fn clear(&mut self) {
        if let Some(h) = &mut self.0 {
            h.reset();
        }
    }

    /// The `q` quantile (0..=1) in microseconds, `None` with no samples.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        let h = self.0.as_ref().filter(|h| !h.is_empty())?;
        Some(h.value_at_quantile(q.clamp(0.0, 1.0)))
    }
}

/// What the line shows; filled by the run loop.
pub struct Snapshot<'a> {
    /// Input records processed by this run (replay excluded).
    pub processed: u64,
    /// Committed plus open counts.
    pub committed: &'a OutputCounts,
    pub open: &'a OutputCounts,
    pub commits: u64,
    pub last_checkpoint: Option<Instant>,
}

/// Redraws one status line about once a second: in place on a terminal, as plain lines every few seconds
/// otherwise (so CI logs stay short).
pub struct ProgressLine {
    enabled: bool,
    tty: bool,
    every: Duration,
    last_draw: Instant,
    last_processed: u64,
    drawn: bool,
    /// Latencies since the last redraw (the line's p99 is recent, the summary's is whole-run).
    pub window: LatencyHistogram,
}

impl ProgressLine {
    pub fn new(enabled: bool, now: Instant) -> ProgressLine {
        let tty = std::io::stderr().is_terminal();
        ProgressLine {
            enabled,
            tty,
            every: if tty {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(5)
            },
            last_draw: now,
            last_processed: 0,
            drawn: false,
            window: LatencyHistogram::default(),
        }
    }

    /// Redraws if due; cheap otherwise.
    pub fn tick(&mut self, now: Instant, s: &Snapshot<'_>) {
        if !self.enabled || now.duration_since(self.last_draw) < self.every {
            return;
        }
        let secs = now.duration_since(self.last_draw).as_secs_f64().max(1e-9);
        let rate = (s.processed - self.last_processed) as f64 / secs;
        let p99 = self.window.quantile_us(0.99).map_or_else(
            || "-".to_string(),
            |us| format!("{:.1}ms", us as f64 / 1000.0),
        );
        let checkpoint = s.last_checkpoint.map_or_else(
            || "none yet".to_string(),
            |at| format!("{:.0}s ago", now.duration_since(at).as_secs_f64()),
        );
        let line = format!(
            "{rate:>9.0} ev/s | {} records | decisions {} | alerts {} | p99 ingest→commit {p99} | commits {} | checkpoint {checkpoint}",
            s.processed,
            s.committed.decisions + s.open.decisions,
            s.committed.alerts + s.open.alerts,
            s.commits,
        );
        let mut err = std::io::stderr().lock();
        // A progress line that cannot be written is not worth failing the run for.
        let _ = if self.tty {
            write!(err, "\r\x1b[K{line}")
        } else {
            writeln!(err, "sluice run: {line}")
        };
        let _ = err.flush();
        self.drawn = true;
        self.last_draw = now;
        self.last_processed = s.processed;
        self.window.clear();
    }

    /// Ends the in-place line so the summary starts on a fresh line.
    pub fn finish(&mut self) {
        if self.enabled && self.tty && self.drawn {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_of_a_known_distribution() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.quantile_us(0.99), None);
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let p99 = h.quantile_us(0.99).unwrap();
        assert!((99_000..=99_000 * 101 / 100).contains(&p99), "{p99}");
    }
}
