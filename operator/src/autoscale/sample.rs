//! The autoscaler's raw input: one scrape of the running workers' `GET /v1/status` answers — per worker its
//! busy ratio and per owned partition its processed rate and lag. [`super::metrics::MetricsWindow`] keeps
//! and summarizes them.

use serde::{Deserialize, Serialize};
use sluice_crds::control::{WorkerPhase, WorkerStatus};

/// One scrape of every running worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// When the scrape happened (unix milliseconds).
    pub at_ms: i64,
    pub workers: Vec<WorkerSample>,
}

/// One worker's figures in a [`Sample`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSample {
    /// Worker (pod) name.
    pub worker: String,
    /// Fraction of wall time spent processing, 0..=1 (None: not reported).
    #[serde(default)]
    pub busy_ratio: Option<f64>,
    pub partitions: Vec<PartitionSample>,
}

/// One owned partition's figures in a [`WorkerSample`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionSample {
    pub partition: i32,
    /// Records per second appended to the input (None: derive it from processed rate and lag growth).
    #[serde(default)]
    pub arrival_rate: Option<f64>,
    /// Records per second processed.
    pub processed_rate: f64,
    /// Records behind the log end (None: not measured yet).
    #[serde(default)]
    pub lag: Option<i64>,
}

impl Sample {
    /// A sample from the workers' `GET /v1/status` answers; only workers in phase `running` count (a
    /// recovering or stopping worker's rates describe no steady state). The control API reports no arrival
    /// rate, so it is derived from lag growth by [`MetricsWindow::summarize`].
    pub fn from_statuses<'a>(
        at_ms: i64,
        statuses: impl IntoIterator<Item = &'a WorkerStatus>,
    ) -> Sample {
        let workers = statuses
            .into_iter()
            .filter(|s| s.phase == WorkerPhase::Running)
            .map(|s| WorkerSample {
                worker: s.worker.clone(),
                busy_ratio: Some(s.busy_ratio),
                partitions: s
                    .partitions
                    .iter()
                    .map(|p| PartitionSample {
                        partition: p.partition,
                        arrival_rate: None,
                        processed_rate: p.processed_per_sec,
                        lag: p.lag,
                    })
                    .collect(),
            })
            .collect();
        Sample { at_ms, workers }
    }
}
