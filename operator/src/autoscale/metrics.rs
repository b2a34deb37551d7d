//! The autoscaler's inputs: metric samples scraped from the workers, a sliding window over them, and the
//! window's robust averages (pure; time is always passed in, never read from a clock).
//!
//! A [`Sample`] (module `sample`) is one scrape of every running worker at time `at_ms`: per worker its busy ratio (the worker
//! measures busy time for the whole worker, not per partition) and per owned partition the arrival rate,
//! processed rate and lag. The [`MetricsWindow`] keeps the samples of the last `metrics-window` and says
//! whether it is *full*: it has been collecting without interruption for a whole window since its last
//! reset. The operator resets it whenever the workers restart (an upgrade, a rescale, a crash), so no
//! decision is ever taken on figures from a previous layout or from a warming-up job.
//!
//! Robustness rules of [`MetricsWindow::summarize`]:
//! - a worker whose busy ratio is ≈ 0 (below [`BUSY_EPSILON`]) or missing says nothing about capacity: it is
//!   left out of the true-rate estimate (processed / busy would divide by noise);
//! - the true rate per worker is the ratio of sums Σ processed / Σ busy over workers and samples, i.e. a
//!   busy-time-weighted mean, so a noisy busy ratio averages out and nearly idle samples weigh little;
//! - an arrival rate the worker did not report is derived from the processed rate plus the growth of the
//!   partition's lag over the window (records appended = records processed + backlog growth);
//! - lag is a level, not a rate: the latest observation counts, not the window average;
//! - non-finite or negative figures are ignored, busy ratios are clamped into `0..=1`;
//! - a partition of the job that no sample in the window covers makes the window incomplete (no decision
//!   from a partial picture), and so does a window whose newest sample is older than half a window.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use sluice_crds::Millis;

pub use super::sample::{PartitionSample, Sample, WorkerSample};
use crate::saturating::{self, millis};

/// Busy ratios below this are treated as "idle" and say nothing about a worker's capacity.
pub const BUSY_EPSILON: f64 = 0.02;

/// Fewest samples a full window must hold.
pub const MIN_SAMPLES: usize = 2;

/// Whether the window can be decided on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    Full,
    /// Collecting since `since_ms` (None: nothing yet); full at `full_at_ms` if samples keep coming.
    Filling {
        since_ms: Option<i64>,
        full_at_ms: Option<i64>,
    },
}

/// Why a full window still cannot be summarized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incomplete {
    /// No sample at all.
    Empty,
    /// The newest sample is older than half a window: scraping stopped.
    Stale { newest_ms: i64, now_ms: i64 },
    /// These partitions of the job appear in no sample of the window.
    MissingPartitions(Vec<i32>),
}

impl fmt::Display for Incomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incomplete::Empty => write!(f, "no metric samples collected"),
            Incomplete::Stale { newest_ms, now_ms } => write!(
                f,
                "the newest metric sample is {} old; workers stopped answering their control API",
                Millis(now_ms.saturating_sub(*newest_ms).max(0).unsigned_abs())
            ),
            Incomplete::MissingPartitions(ps) => {
                let shown: Vec<String> = ps.iter().take(10).map(i32::to_string).collect();
                let more = if ps.len() > 10 {
                    format!(" and {} more", ps.len() - 10)
                } else {
                    String::new()
                };
                write!(
                    f,
                    "no worker reported partitions {}{more} during the window",
                    shown.join(", ")
                )
            }
        }
    }
}

/// Window averages of one partition.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionSummary {
    pub partition: i32,
    /// Records per second appended (reported mean, or derived).
    pub arrival_rate: f64,
    /// Whether `arrival_rate` was derived from lag growth.
    pub arrival_derived: bool,
    pub processed_rate: f64,
    /// Latest observed lag (0 if never measured).
    pub lag: i64,
    /// Σ processed / Σ busy of its owning worker over the window (None: its worker was never busy).
    pub true_rate: Option<f64>,
}

/// Window averages of one worker.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerSummary {
    pub worker: String,
    /// Mean busy ratio over the samples that reported it.
    pub busy_ratio: f64,
    /// Mean of its summed processed rate.
    pub processed_rate: f64,
    /// Partitions it owned in its latest sample.
    pub partitions: usize,
}

/// What the window says, averaged.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowSummary {
    pub samples: usize,
    /// One entry per partition `0..partitions`, in order.
    pub partitions: Vec<PartitionSummary>,
    /// Workers by name.
    pub workers: Vec<WorkerSummary>,
    /// Records per second one worker processes when 100% busy (None: no worker was ever busy).
    pub true_rate_per_worker: Option<f64>,
}

/// Sliding window of samples.
#[derive(Clone, Debug, Default)]
pub struct MetricsWindow {
    samples: VecDeque<Sample>,
    /// Time of the first sample since the last reset (or since the last gap).
    filling_since: Option<i64>,
}

fn clean_rate(x: f64) -> Option<f64> {
    (x.is_finite() && x >= 0.0).then_some(x)
}

fn clean_busy(x: Option<f64>) -> Option<f64> {
    x.filter(|b| b.is_finite()).map(|b| b.clamp(0.0, 1.0))
}

impl MetricsWindow {
    pub fn new() -> MetricsWindow {
        MetricsWindow::default()
    }

    /// Forgets everything: the workers restarted, so the window must refill before any decision.
    pub fn reset(&mut self) {
        self.samples.clear();
        self.filling_since = None;
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Adds a sample and drops those older than `length` before it. A sample not newer than the previous
    /// one is ignored (a replayed scrape). After a gap longer than half a window the window starts filling
    /// again: averages across a hole describe no continuous period.
    pub fn push(&mut self, sample: Sample, length: Millis) {
        let last = self.samples.back().map(|s| s.at_ms);
        if last.is_some_and(|l| sample.at_ms <= l) {
            return;
        }
        if last.is_some_and(|l| gap_too_long(sample.at_ms - l, length)) {
            self.reset();
        }
        let at = sample.at_ms;
        self.filling_since.get_or_insert(at);
        self.samples.push_back(sample);
        self.prune(at, length);
    }

    /// Drops samples taken before `t_ms` (e.g. the workers' last restart), restarting the fill at the
    /// first remaining one.
    pub fn discard_before(&mut self, t_ms: i64) {
        let before = self.samples.len();
        self.samples.retain(|s| s.at_ms >= t_ms);
        if self.samples.len() != before {
            self.filling_since = self.samples.front().map(|s| s.at_ms);
        }
    }

    fn prune(&mut self, newest_ms: i64, length: Millis) {
        let horizon = newest_ms.saturating_sub(millis(length));
        while self.samples.front().is_some_and(|s| s.at_ms < horizon) {
            self.samples.pop_front();
        }
    }

    /// Full once it has been filling for a whole window (and holds at least [`MIN_SAMPLES`]).
    pub fn fill(&self, now_ms: i64, length: Millis) -> Fill {
        match self.filling_since {
            Some(since)
                if now_ms - since >= millis(length) && self.samples.len() >= MIN_SAMPLES =>
            {
                Fill::Full
            }
            since => Fill::Filling {
                since_ms: since,
                full_at_ms: since.map(|s| s.saturating_add(millis(length))),
            },
        }
    }

    /// Window averages for a job of `partitions` partitions (see the module doc for the rules).
    pub fn summarize(
        &self,
        now_ms: i64,
        length: Millis,
        partitions: u32,
    ) -> Result<WindowSummary, Incomplete> {
        let newest = self.samples.back().ok_or(Incomplete::Empty)?;
        if gap_too_long(now_ms - newest.at_ms, length) {
            return Err(Incomplete::Stale {
                newest_ms: newest.at_ms,
                now_ms,
            });
        }
        let mut parts: Vec<PartAcc> = (0..partitions).map(|_| PartAcc::default()).collect();
        let mut workers: BTreeMap<&str, WorkerAcc> = BTreeMap::new();
        let (mut processed_sum, mut busy_sum) = (0.0, 0.0);
        for s in &self.samples {
            for w in &s.workers {
                let busy = clean_busy(w.busy_ratio);
                let processed: f64 = w
                    .partitions
                    .iter()
                    .filter_map(|p| clean_rate(p.processed_rate))
                    .sum();
                let acc = workers.entry(w.worker.as_str()).or_default();
                acc.add(busy, processed, w.partitions.len());
                let busy_enough = busy.filter(|b| *b >= BUSY_EPSILON);
                if let Some(b) = busy_enough {
                    processed_sum += processed;
                    busy_sum += b;
                }
                for p in &w.partitions {
                    let Some(acc) = usize::try_from(p.partition)
                        .ok()
                        .and_then(|i| parts.get_mut(i))
                    else {
                        continue; // outside the job's partitions: a layout mismatch the reconciler reports
                    };
                    acc.add(s.at_ms, p, busy_enough);
                }
            }
        }
        let missing: Vec<i32> = parts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.seen == 0)
            .filter_map(|(i, _)| i32::try_from(i).ok())
            .collect();
        if !missing.is_empty() {
            return Err(Incomplete::MissingPartitions(missing));
        }
        Ok(WindowSummary {
            samples: self.samples.len(),
            partitions: parts
                .iter()
                .enumerate()
                .map(|(i, a)| a.summary(saturating::to_i32(i)))
                .collect(),
            workers: workers
                .into_iter()
                .map(|(name, a)| a.summary(name))
                .collect(),
            true_rate_per_worker: (busy_sum > 0.0 && processed_sum > 0.0)
                .then(|| processed_sum / busy_sum),
        })
    }
}

/// A hole in the samples longer than half a window.
fn gap_too_long(gap_ms: i64, length: Millis) -> bool {
    gap_ms > millis(length) / 2
}

#[derive(Default)]
struct PartAcc {
    seen: u32,
    processed_sum: f64,
    processed_n: u32,
    arrival_sum: f64,
    arrival_n: u32,
    first_lag: Option<(i64, i64)>,
    last_lag: Option<(i64, i64)>,
    true_processed: f64,
    true_busy: f64,
}

impl PartAcc {
    fn add(&mut self, at_ms: i64, p: &PartitionSample, busy: Option<f64>) {
        self.seen += 1;
        if let Some(r) = clean_rate(p.processed_rate) {
            self.processed_sum += r;
            self.processed_n += 1;
            if let Some(b) = busy {
                self.true_processed += r;
                self.true_busy += b;
            }
        }
        if let Some(a) = p.arrival_rate.and_then(clean_rate) {
            self.arrival_sum += a;
            self.arrival_n += 1;
        }
        if let Some(lag) = p.lag.filter(|l| *l >= 0) {
            self.first_lag.get_or_insert((at_ms, lag));
            self.last_lag = Some((at_ms, lag));
        }
    }

    fn summary(&self, partition: i32) -> PartitionSummary {
        let processed = mean(self.processed_sum, self.processed_n);
        let (arrival, derived) = if self.arrival_n > 0 {
            (mean(self.arrival_sum, self.arrival_n), false)
        } else {
            // appended = processed + backlog growth (lag is in records, time in ms).
            let growth = match (self.first_lag, self.last_lag) {
                (Some((t0, l0)), Some((t1, l1))) if t1 > t0 => {
                    (l1 - l0) as f64 * 1000.0 / (t1 - t0) as f64
                }
                _ => 0.0,
            };
            ((processed + growth).max(0.0), true)
        };
        PartitionSummary {
            partition,
            arrival_rate: arrival,
            arrival_derived: derived,
            processed_rate: processed,
            lag: self.last_lag.map_or(0, |(_, l)| l),
            true_rate: (self.true_busy > 0.0).then(|| self.true_processed / self.true_busy),
        }
    }
}

fn mean(sum: f64, n: u32) -> f64 {
    if n == 0 { 0.0 } else { sum / f64::from(n) }
}

#[derive(Default)]
struct WorkerAcc {
    busy_sum: f64,
    busy_n: u32,
    processed_sum: f64,
    n: u32,
    partitions: usize,
}

impl WorkerAcc {
    fn add(&mut self, busy: Option<f64>, processed: f64, partitions: usize) {
        if let Some(b) = busy {
            self.busy_sum += b;
            self.busy_n += 1;
        }
        self.processed_sum += processed;
        self.n += 1;
        self.partitions = partitions;
    }

    fn summary(&self, name: &str) -> WorkerSummary {
        WorkerSummary {
            worker: name.to_string(),
            busy_ratio: mean(self.busy_sum, self.busy_n),
            processed_rate: mean(self.processed_sum, self.n),
            partitions: self.partitions,
        }
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
