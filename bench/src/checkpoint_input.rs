//! The checkpoint benchmark's input: generated batches of authorizations on the run's cards, each starting in
//! event time after the previous one so none of its records is late, and the distinct cards a batch touches.

use std::time::Instant;

use sluice_generator::{Generator, GeneratorConfig};

use super::checkpoint_report::Batch;
use sluice_testbed::TestBedError;
use sluice_testbed::job_harness::JobHarness;

/// Event-time rate of the generated input (as in `sluice-bench run`).
const EVENTS_PER_SECOND: u32 = 12_000;

/// The run's generated batches so far: seed and event-time start of the next one.
pub struct Batches {
    cards: u64,
    partitions: i32,
    next_seed: u64,
    next_start_ms: i64,
}

impl Batches {
    pub fn new(cards: u64, partitions: i32) -> Batches {
        Batches {
            cards,
            partitions,
            next_seed: 11,
            next_start_ms: GeneratorConfig::default().start_time_ms,
        }
    }

    /// Event-time start of the next batch.
    pub fn next_start_ms(&self) -> i64 {
        self.next_start_ms
    }

    /// Produces `authorizations` on the run's cards into the job's input topics (event time continuing after
    /// the previous batch). The batch's `drain_seconds` is left 0.
    pub fn produce(&mut self, h: &JobHarness, authorizations: u64) -> Result<Batch, TestBedError> {
        let g = GeneratorConfig {
            seed: self.next_seed,
            cards: self.cards,
            partitions: self.partitions as u32,
            authorizations,
            events_per_second: EVENTS_PER_SECOND,
            start_time_ms: self.next_start_ms,
            ..GeneratorConfig::default()
        };
        self.next_seed += 1;
        // Past this batch's last event (bursts add a few steps) plus two minutes: the next is never late.
        let span_ms = authorizations.saturating_mul(1_100) / u64::from(EVENTS_PER_SECOND);
        self.next_start_ms += i64::try_from(span_ms).unwrap_or(i64::MAX / 4) + 120_000;
        let cards_touched = cards_touched(&g);
        let started = Instant::now();
        let summary = sluice_cli::produce::produce(&h.bootstrap, &h.job.topics, g, 0, |_| {})
            .map_err(|e| TestBedError::Env(format!("producing: {e}")))?;
        Ok(Batch {
            authorizations: summary.authorizations,
            records: summary.records,
            cards_touched,
            produce_seconds: started.elapsed().as_secs_f64(),
            drain_seconds: 0.0,
        })
    }
}

/// Distinct cards a generated batch touches (its keys are `card-<index>`; anything else counts once each).
fn cards_touched(g: &GeneratorConfig) -> u64 {
    let mut seen = vec![false; usize::try_from(g.cards).unwrap_or(0)];
    let mut other = 0;
    for rec in Generator::new(g.clone()) {
        let idx = std::str::from_utf8(&rec.key)
            .ok()
            .and_then(|k| k.strip_prefix("card-"))
            .and_then(|n| n.parse::<usize>().ok());
        match idx.and_then(|i| seen.get_mut(i)) {
            Some(s) => *s = true,
            None => other += 1,
        }
    }
    seen.iter().filter(|s| **s).count() as u64 + other
}
