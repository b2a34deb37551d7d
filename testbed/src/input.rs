//! Generated input for the end-to-end scenarios: numbered batches of authorizations (with their device
//! telemetry and account changes) that continue in event time after each other, so nothing is late by
//! construction and a scenario can feed a job before, during and after a fault.

use sluice_cli::produce::produce;
use sluice_generator::GeneratorConfig;

use crate::job_harness::JobHarness;

/// How a scenario's input batches are generated. Batch `n` uses seed `seed + n` and starts `n × spacing`
/// after the generator's default start time.
#[derive(Clone, Copy, Debug)]
pub struct InputBatches {
    pub seed: u64,
    pub partitions: u32,
    pub cards: u64,
    pub events_per_second: u32,
    pub malformed_per_mille: u32,
    /// Event-time distance between the starts of consecutive batches, ms.
    pub spacing_ms: i64,
    /// Records per second to send at; 0 sends as fast as the broker takes them. A paced batch keeps input
    /// arriving while the scenario kills workers.
    pub send_rate: u32,
}

impl InputBatches {
    /// 600 cards at 400 events/s of event time, 4 ‰ malformed, batches 2 minutes apart, sent unpaced.
    pub const fn new(seed: u64, partitions: u32) -> InputBatches {
        InputBatches {
            seed,
            partitions,
            cards: 600,
            events_per_second: 400,
            malformed_per_mille: 4,
            spacing_ms: 120_000,
            send_rate: 0,
        }
    }

    /// The generator's configuration for batch `batch` of `authorizations` authorizations.
    pub fn config(&self, batch: u64, authorizations: u64) -> GeneratorConfig {
        let defaults = GeneratorConfig::default();
        GeneratorConfig {
            seed: self.seed + batch,
            cards: self.cards,
            partitions: self.partitions,
            authorizations,
            events_per_second: self.events_per_second,
            malformed_per_mille: self.malformed_per_mille,
            start_time_ms: defaults.start_time_ms + batch as i64 * self.spacing_ms,
            ..defaults
        }
    }

    /// Produces batch `batch` to the job's input topics; returns how many records were sent (all topics).
    pub fn produce(&self, h: &JobHarness, batch: u64, authorizations: u64) -> Result<u64, String> {
        let generator = self.config(batch, authorizations);
        produce(
            &h.bootstrap,
            &h.job.topics,
            generator,
            self.send_rate,
            |_| {},
        )
        .map(|summary| summary.records)
        .map_err(|e| format!("producing batch {batch}: {e}"))
    }
}
