//! One worker of the soak: its spec, the running process, and what a sample reads from it (RSS from
//! `/proc`, the rest from its `/metrics`).

use sluice_testbed::TestBedError;
use sluice_testbed::job_harness::{JobHarness, RunningWorker, WorkerSpec};

use super::procstat;
use super::prom::{HistogramTotals, Scrape};
use super::soak::{PARTITIONS, soak_err};

const MIB: f64 = 1024.0 * 1024.0;

/// What one sample reads from one worker; sizes in MiB.
#[derive(Default)]
pub(super) struct SlotSample {
    pub rss: Option<f64>,
    pub state: Option<f64>,
    pub checkpoints: u64,
    pub checkpoint_mean_ms: Option<f64>,
    pub uploaded: Option<f64>,
    pub block_cache: Option<f64>,
    pub table_readers: Option<f64>,
    pub read_cache: Option<f64>,
}

/// One worker slot: its spec, the running process and the last checkpoint totals scraped from it.
pub(super) struct Slot {
    pub spec: WorkerSpec,
    pub worker: RunningWorker,
    checkpoints: HistogramTotals,
    uploaded_bytes: f64,
}

impl Slot {
    pub fn start(h: &JobHarness, index: usize) -> Result<Slot, TestBedError> {
        let per = PARTITIONS as usize / 2;
        let identity = format!("soak-w{index}");
        let spec = WorkerSpec {
            slot: identity.clone(),
            identity,
            partitions: (index * per..(index + 1) * per).map(|p| p as i32).collect(),
            ..WorkerSpec::default()
        };
        let worker = h.start(&spec)?;
        Ok(Slot {
            spec,
            worker,
            checkpoints: HistogramTotals::default(),
            uploaded_bytes: 0.0,
        })
    }

    /// A worker that exited was not killed by the soak: that fails it.
    pub fn check_alive(&mut self) -> Result<(), TestBedError> {
        match self.worker.process.try_exit() {
            Some(status) => Err(soak_err(format_args!(
                "worker {} died on its own ({status}): {}",
                self.spec.identity,
                self.worker.process.log_tail(40)
            ))),
            None => Ok(()),
        }
    }

    /// RSS, live state and caches, and what happened since the previous call: checkpoints completed (count,
    /// mean duration in ms) and bytes they uploaded. A restarted process starts its totals at zero again.
    pub fn sample(&mut self) -> SlotSample {
        let rss = procstat::rss_kib(self.worker.process.pid()).map(|k| k as f64 / 1024.0);
        let Ok(scrape) = Scrape::get(&self.worker.metrics_url) else {
            return SlotSample {
                rss,
                ..SlotSample::default()
            };
        };
        let mib = |name: &str| scrape.sum(name).map(|b| b / MIB);
        let ckpt = "kind=\"checkpoint\"";
        let now = scrape.histogram("sluice_checkpoint_duration_seconds", ckpt);
        let delta = if now.count < self.checkpoints.count {
            now
        } else {
            now.since(self.checkpoints)
        };
        self.checkpoints = now;
        let uploaded_now = scrape.value("sluice_checkpoint_uploaded_bytes_total", ckpt);
        let uploaded = uploaded_now.map(|u| {
            let since = if u < self.uploaded_bytes {
                u
            } else {
                u - self.uploaded_bytes
            };
            self.uploaded_bytes = u;
            since / MIB
        });
        SlotSample {
            rss,
            state: mib("sluice_state_bytes"),
            checkpoints: delta.count as u64,
            checkpoint_mean_ms: (delta.count > 0.0).then(|| delta.sum / delta.count * 1000.0),
            uploaded,
            block_cache: mib("sluice_rocksdb_block_cache_usage_bytes"),
            table_readers: mib("sluice_rocksdb_table_readers_bytes"),
            read_cache: mib("sluice_read_cache_bytes"),
        }
    }

    /// SIGKILLs the (live) worker and starts it again at once, first deleting its state directory when
    /// `lose_disk`.
    pub fn kill_and_restart(
        &mut self,
        h: &JobHarness,
        lose_disk: bool,
    ) -> Result<(), TestBedError> {
        self.worker.process.kill_live().map_err(soak_err)?;
        if lose_disk {
            let dir = h.state_dir(&self.spec.slot);
            std::fs::remove_dir_all(&dir).map_err(TestBedError::io("deleting the state dir"))?;
        }
        self.worker = h.start(&self.spec)?;
        self.checkpoints = HistogramTotals::default();
        self.uploaded_bytes = 0.0;
        Ok(())
    }
}
