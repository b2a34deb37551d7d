//! Throughput over time during a drain: the consumer group's committed input offsets, sampled about once a
//! second. Committed offsets are what exactly-once makes final, so the curve shows progress a restart would
//! keep. Sluice and the pipe commit every transaction (`commitInterval`); Flink commits its offsets when a
//! checkpoint completes, so its curve moves in steps of one checkpoint interval.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;

use sluice_testbed::TestBedError;

/// One sample: seconds since the system started, input records committed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Sample {
    pub t_secs: f64,
    pub committed: i64,
}

/// Samples `group`'s committed offsets over `topics` × `0..partitions`.
pub struct CommittedSampler {
    consumer: BaseConsumer,
    tpl: TopicPartitionList,
    started: Instant,
    last: Option<Instant>,
    pub samples: Vec<Sample>,
}

impl CommittedSampler {
    /// `started` is the system's start: samples are relative to it.
    pub fn new(
        bootstrap: &str,
        group: &str,
        topics: &[&str],
        partitions: i32,
        started: Instant,
    ) -> Result<CommittedSampler, TestBedError> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| TestBedError::Env(format!("offset sampler: {e}")))?;
        let mut tpl = TopicPartitionList::new();
        for t in topics {
            for p in 0..partitions {
                tpl.add_partition(t, p);
            }
        }
        Ok(CommittedSampler {
            consumer,
            tpl,
            started,
            last: None,
            samples: Vec::new(),
        })
    }

    /// Takes a sample if a second has passed since the last one. A failed lookup (e.g. the coordinator
    /// moving) skips the sample rather than the drain: the curve is a by-product.
    pub fn tick(&mut self) {
        if self
            .last
            .is_some_and(|l| l.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last = Some(Instant::now());
        let Ok(committed) = self
            .consumer
            .committed_offsets(self.tpl.clone(), Duration::from_secs(5))
        else {
            return;
        };
        let total = committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            })
            .sum();
        self.samples.push(Sample {
            t_secs: self.started.elapsed().as_secs_f64(),
            committed: total,
        });
    }

    /// Records a final sample (the drain's end) and returns all of them.
    pub fn finish(mut self, committed: i64) -> Vec<Sample> {
        self.samples.push(Sample {
            t_secs: self.started.elapsed().as_secs_f64(),
            committed,
        });
        self.samples
    }
}
