//! The live progress line on stderr and the ingest→commit latency histogram behind its p99. Metrics only:
//! they read the wall clock, and nothing here feeds back into what is processed or committed.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use super::commit_log::OutputCounts;

/// Sub-buckets per power of two: values are kept to within 1/8 (12.5%).
const SUB: u32 = 8;
const BUCKETS: usize = 8 + 61 * 8;

/// A log-linear histogram of microsecond latencies (constant memory, no allocation per sample).
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < u64::from(SUB) {
        return usize::try_from(us).unwrap_or(0);
    }
    let msb = 63 - us.leading_zeros(); // >= 3
    let sub = (us >> (msb - 3)) & u64::from(SUB - 1);
    usize::try_from(u64::from(msb - 2) * u64::from(SUB) + sub).unwrap_or(BUCKETS - 1)
}

/// Largest value that falls in bucket `i` (a quantile is reported conservatively, as an upper bound).
fn bucket_max(i: usize) -> u64 {
    let i = u64::try_from(i).unwrap_or(0);
    if i < u64::from(SUB) {
        return i;
    }
    let msb = i / u64::from(SUB) + 2;
    let sub = i % u64::from(SUB);
    let width = 1u64 << (msb - 3);
    ((u64::from(SUB) + sub) << (msb - 3)).saturating_add(width - 1)
}

impl LatencyHistogram {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if let Some(c) = self.counts.get_mut(bucket_of(us)) {
            *c += 1;
            self.total += 1;
        }
    }

    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
    }

    /// The `q` quantile (0..=1) in microseconds, `None` with no samples.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_max(i));
            }
        }
        None
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
    fn buckets_are_contiguous_and_bound_their_values() {
        for us in (0..100_000u64).chain([u64::MAX / 2, u64::MAX]) {
            let b = bucket_of(us);
            assert!(b < BUCKETS, "{us}");
            assert!(bucket_max(b) >= us, "{us}");
            assert!(bucket_max(b) as f64 <= (us as f64) * 1.125 + 1.0, "{us}");
        }
    }

    #[test]
    fn p99_of_a_known_distribution() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.quantile_us(0.99), None);
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let p99 = h.quantile_us(0.99).unwrap();
        assert!((99_000..=99_000 * 9 / 8).contains(&p99), "{p99}");
    }
}
