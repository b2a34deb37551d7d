//! `sluice-bench checkpoint`: durable checkpoints and recovery at a given state size, on real Kafka and the
//! real S3 server (a private `s3s-fs`, so the run owns — and removes — its bucket's disk space).
//!
//! 1. Load: one authorization per card on average (`cards = authorizations = N`), drained by one worker.
//! 2. A triggered checkpoint (full upload), then `change_percent` % more authorizations on existing cards and
//!    another (incremental). Pause from the `sluice_checkpoint_pause_seconds` delta, duration and bytes from
//!    `GET /v1/status`.
//! 3. A tail of input committed after that checkpoint (replayed by recovery), kill -9, more input pending,
//!    restart on the same state directory; then kill -9 again, input pending, restart on an empty directory
//!    (full restore from S3). Each timed from process start to the first new committed decision.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;

use super::checkpoint_input::Batches;
use super::checkpoint_measure::{status, trigger_and_measure};
use super::checkpoint_report::{
    Batch, CheckpointBenchResult, LOCAL_RECOVERY_GOAL_MS, PAUSE_GOAL_MS, print_table,
};
use super::disk::{DiskGuard, gib, tree_bytes};
use super::recovery::{NewRecords, spawn_worker, wait_ready};
use super::setup::{delete_topics, machine};
use sluice_testbed::job_harness::{JobHarness, RunningWorker, WorkerSpec};
use sluice_testbed::{S3Server, TestBed, TestBedError, unique_name};

/// Only triggered checkpoints: the periodic interval is longer than any run.
const JOB_YAML: &str = "commitInterval: 100ms\nstate:\n  checkpointInterval: 6h\n";
const STEP_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

#[derive(Args, Clone, Debug)]
pub struct CheckpointArgs {
    /// Small sizes (20,000 cards): proves the harness (used by the test suite); numbers are not meaningful.
    #[arg(long)]
    pub quick: bool,
    /// Distinct cards; the load produces as many authorizations (unless `--preload`).
    #[arg(long, default_value_t = 20_000_000)]
    pub cards: u64,
    /// Bulk-load a month of history for every card before the worker starts (large state in minutes, see
    /// `preload.rs`); the load phase then produces only `--load-authorizations`.
    #[arg(long)]
    pub preload: bool,
    /// Authorizations of the load phase (default: `--cards`, or 100,000 with `--preload`).
    #[arg(long)]
    pub load_authorizations: Option<u64>,
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Share of the cards changed between the full and the incremental checkpoint, in percent.
    #[arg(long, default_value_t = 1.0)]
    pub change_percent: f64,
    /// Authorizations committed after the last checkpoint, before the kill (replayed by recovery).
    #[arg(long, default_value_t = 10_000)]
    pub tail_authorizations: u64,
    /// Authorizations waiting in Kafka when the killed worker restarts.
    #[arg(long, default_value_t = 10_000)]
    pub pending_authorizations: u64,
    /// Stop (and clean up) when less than this many GiB are free (default 15, or 1 with --quick).
    #[arg(long)]
    pub min_free_gib: Option<f64>,
    /// Keep the state directories, S3 data and topics for inspection.
    #[arg(long)]
    pub keep: bool,
    /// Result file (JSON). Default: the run directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The run: its job, where it lives, the disk guard, and the input batches produced so far.
struct Bench<'a> {
    args: &'a CheckpointArgs,
    h: JobHarness,
    dir: PathBuf,
    guard: DiskGuard,
    free_lowest: u64,
    input: Batches,
}

pub fn run_checkpoint(mut args: CheckpointArgs) -> Result<(), TestBedError> {
    if args.quick {
        args.cards = args.cards.min(20_000);
        args.tail_authorizations = args.tail_authorizations.min(1_000);
        args.pending_authorizations = args.pending_authorizations.min(1_000);
    }
    let min_free = args
        .min_free_gib
        .unwrap_or(if args.quick { 1.0 } else { 15.0 });
    let dir = sluice_testbed::cache::run_root().join(unique_name("ckpt-bench"));
    std::fs::create_dir_all(&dir).map_err(TestBedError::io("creating the run dir"))?;
    let guard = DiskGuard::new(&dir, (min_free * 1024.0 * 1024.0 * 1024.0) as u64);
    // Services, bucket and topics; a failure here leaves nothing behind either.
    let (free_at_start, _bed, s3, h) = match start_services(&args, &dir, &guard) {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    let mut bench = Bench {
        args: &args,
        h,
        dir: dir.clone(),
        guard,
        free_lowest: free_at_start,
        input: Batches::new(args.cards, args.partitions),
    };
    let outcome = bench.run();
    let mut result = match outcome {
        Ok(r) => r,
        Err(e) => {
            bench.clean_up(s3);
            return Err(e);
        }
    };
    result.disk.free_at_start = free_at_start;
    result.disk.free_lowest = bench.free_lowest;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| dir.with_extension("json"));
    bench.clean_up(s3);
    let json =
        serde_json::to_string_pretty(&result).map_err(|e| TestBedError::Env(e.to_string()))?;
    std::fs::write(&out, &json)
        .map_err(|e| TestBedError::Env(format!("writing {}: {e}", out.display())))?;
    println!("{json}");
    print_table(&result);
    eprintln!("results: {}", out.display());
    Ok(())
}

/// Kafka, the S3 server with the run's bucket, and the job using it as its store, all under `dir`; first the
/// free bytes at the start (the disk guard's first check).
fn start_services(
    args: &CheckpointArgs,
    dir: &Path,
    guard: &DiskGuard,
) -> Result<(u64, TestBed, S3Server, JobHarness), TestBedError> {
    let free_at_start = guard.check("start")?;
    let bed = TestBed::with_kafka()?;
    let s3 = S3Server::start(&dir.join("s3"))?;
    // s3s-fs keeps each bucket as a directory of its data root; its CreateBucket is exactly this mkdir.
    // (The bench binary does not link an S3 client of its own.)
    let bucket = unique_name("ckpt-bench");
    std::fs::create_dir_all(dir.join("s3").join("data").join(&bucket))
        .map_err(TestBedError::io("creating the bucket"))?;
    let mut h = JobHarness::new(
        bed.kafka_bootstrap(),
        &dir.join("job"),
        args.partitions,
        JOB_YAML,
    )?;
    h.with_store(&format!("s3://{bucket}/bench"), Some(&s3.endpoint()));
    Ok((free_at_start, bed, s3, h))
}

impl Bench<'_> {
    fn spec(&self, slot: &str) -> WorkerSpec {
        WorkerSpec {
            slot: slot.into(),
            identity: "bench-w0".into(),
            partitions: (0..self.args.partitions).collect(),
            ..WorkerSpec::default()
        }
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("worker-{name}.log"))
    }

    fn check_disk(&mut self, what: &str) -> Result<(), TestBedError> {
        let free = self.guard.check(what)?;
        self.free_lowest = self.free_lowest.min(free);
        Ok(())
    }

    /// The phases in order: load, full and incremental checkpoint, then the tail and the two recoveries.
    fn run(&mut self) -> Result<CheckpointBenchResult, TestBedError> {
        let a = self.args;
        let mut r = CheckpointBenchResult {
            unix_time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            quick: a.quick,
            provenance: sluice_testbed::provenance::Provenance::of_this_run(),
            machine: machine(),
            cards: a.cards,
            partitions: a.partitions,
            change_percent: a.change_percent,
            ..Default::default()
        };
        let mut w = self.load(&mut r)?;
        self.checkpoints(&mut w, &mut r)?;
        self.recoveries(w, &mut r)?;
        r.pause_goal_met = r.full.pause_ms.max(r.incremental.pause_ms) < PAUSE_GOAL_MS;
        r.local_recovery_goal_met = r.recovery_local.first_decision_ms < LOCAL_RECOVERY_GOAL_MS;
        Ok(r)
    }

    /// The state: an optional preload, then the load batch drained by a worker in slot "a", which is returned
    /// running.
    fn load(&mut self, r: &mut CheckpointBenchResult) -> Result<RunningWorker, TestBedError> {
        let a = self.args;
        if a.preload {
            eprintln!("preloading the state of {} cards…", a.cards);
            let pre = super::preload::preload(
                &self.h.state_dir("a"),
                a.partitions,
                a.cards,
                self.input.next_start_ms(),
            )?;
            eprintln!("preloaded in {:.0} s", pre.seconds);
            r.preload = Some(pre);
            self.check_disk("the preload")?;
        }
        let load = a
            .load_authorizations
            .unwrap_or(if a.preload { 100_000 } else { a.cards });
        eprintln!("load: {load} authorizations over {} cards…", a.cards);
        self.produce(load, &mut r.load)?;
        let mut w = spawn_worker(&self.h, &self.spec("a"), &self.log("load"))?;
        wait_ready(&self.h, &mut w, Duration::from_secs(300))?;
        r.load.drain_seconds = self.drain(&mut w, "the load")?;
        r.disk.status_state_bytes = status(&self.h, &w)?.state_bytes;
        Ok(w)
    }

    /// The full checkpoint, then `change_percent` % of the cards changed and the incremental one.
    fn checkpoints(
        &mut self,
        w: &mut RunningWorker,
        r: &mut CheckpointBenchResult,
    ) -> Result<(), TestBedError> {
        let a = self.args;
        eprintln!("full checkpoint…");
        r.full = trigger_and_measure(&self.h, w, STEP_TIMEOUT)?;
        r.disk.state_dir_bytes = tree_bytes(&self.h.state_dir("a"));
        r.disk.s3_bytes = tree_bytes(&self.dir.join("s3"));
        self.check_disk("the full checkpoint")?;

        let changed = ((a.cards as f64) * a.change_percent / 100.0).round() as u64;
        eprintln!(
            "changing {} % of the cards ({changed} authorizations)…",
            a.change_percent
        );
        self.produce(changed.max(1), &mut r.change)?;
        r.change.drain_seconds = self.drain(w, "the change")?;
        r.incremental = trigger_and_measure(&self.h, w, STEP_TIMEOUT)?;
        r.uploaded_share_of_state =
            r.incremental.uploaded_bytes as f64 / r.incremental.state_bytes.max(1) as f64;
        r.changed_share_of_cards =
            r.change.cards_touched as f64 / r.cards_with_state().max(1) as f64;
        Ok(())
    }

    /// A tail committed after the checkpoint, then kill -9 and a timed restart on the same state directory,
    /// then kill -9 and a timed restart on an empty one (a full restore from S3). Stops the last worker.
    fn recoveries(
        &mut self,
        mut w: RunningWorker,
        r: &mut CheckpointBenchResult,
    ) -> Result<(), TestBedError> {
        let a = self.args;
        eprintln!(
            "tail of {} authorizations after the checkpoint…",
            a.tail_authorizations
        );
        self.produce(a.tail_authorizations, &mut r.tail)?;
        r.tail.drain_seconds = self.drain(&mut w, "the tail")?;
        w.process.kill();

        eprintln!("kill -9; restart on the same state directory…");
        let (mut w, run) = self.timed_restart("a", "local")?;
        r.recovery_local = run;
        self.drain(&mut w, "the local recovery")?;
        w.process.kill();
        // Slot "b" starts empty; the dead worker's copy would only double the disk the run needs.
        let _ = std::fs::remove_dir_all(self.h.state_dir("a"));

        eprintln!("kill -9; restart on an empty state directory (restore from S3)…");
        let (mut w, run) = self.timed_restart("b", "s3")?;
        r.recovery_s3 = run;
        self.drain(&mut w, "the S3 recovery")?;
        if r.recovery_s3.downloaded_bytes == 0 {
            return Err(TestBedError::Env(
                "the restart on an empty directory downloaded nothing".into(),
            ));
        }
        self.h.stop_all(vec![w]).map_err(TestBedError::Env)
    }

    /// Produces `authorizations` on the run's cards (event time continuing after the previous batch).
    fn produce(&mut self, authorizations: u64, batch: &mut Batch) -> Result<(), TestBedError> {
        self.check_disk("producing")?;
        *batch = self.input.produce(&self.h, authorizations)?;
        Ok(())
    }

    /// Waits until the worker has committed every input record; returns the seconds it took.
    fn drain(&mut self, w: &mut RunningWorker, what: &str) -> Result<f64, TestBedError> {
        let started = Instant::now();
        let mut disk_checked = Instant::now();
        loop {
            if self.h.lag()? == 0 {
                return Ok(started.elapsed().as_secs_f64());
            }
            w.process.check_alive()?;
            if disk_checked.elapsed() > Duration::from_secs(5) {
                self.check_disk(what)?;
                disk_checked = Instant::now();
            }
            if started.elapsed() > STEP_TIMEOUT {
                return Err(TestBedError::Env(format!("{what}: not drained in time")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Produces the pending input while the worker is dead, then times its restart in state slot `slot`.
    fn timed_restart(
        &mut self,
        slot: &str,
        name: &str,
    ) -> Result<(RunningWorker, super::recovery::RecoveryRun), TestBedError> {
        let reader = NewRecords::at_end(
            &self.h.bootstrap,
            &self.h.job.topics.decisions,
            self.args.partitions,
        )?;
        let mut pending = Batch::default();
        self.produce(self.args.pending_authorizations, &mut pending)?;
        let (w, mut run) =
            reader.time_restart(&self.h, &self.spec(slot), &self.log(name), STEP_TIMEOUT)?;
        run.pending_records = pending.records;
        Ok((w, run))
    }

    /// Removes everything the run wrote unless `--keep`: topics, state directories, the S3 server's data.
    fn clean_up(&self, s3: S3Server) {
        if self.args.keep {
            eprintln!("kept: {} (S3 server stopped)", self.dir.display());
            drop(s3.keep_dir());
            return;
        }
        drop(s3); // stops the server and removes its data
        let t = &self.h.job.topics;
        let progress = sluice_worker::kafka::clients::progress_topic(&self.h.job);
        let topics = [
            t.authorizations.as_str(),
            &t.device_telemetry,
            &t.account_changes,
            &t.decisions,
            &t.alerts,
            &t.dlq,
            &t.late,
            &progress,
        ];
        if let Err(e) = delete_topics(&self.h.bootstrap, &topics) {
            eprintln!("warning: {e}");
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("warning: removing {}: {e}", self.dir.display());
        }
        eprintln!(
            "removed the run's topics and {} ({:.1} GiB free now)",
            self.dir.display(),
            super::disk::available_bytes(&sluice_testbed::cache::run_root()).map_or(0.0, gib)
        );
    }
}
