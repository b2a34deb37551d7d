//! Crashes at speed, against a real Kafka broker and the real S3 server: the job runs with the worker's own
//! commit settings on a backlog plus live input of 5,000 records/s, so the fast paths (parallel processing
//! rounds, backlog stretch, the commit thread, the read cache, incremental uploads) run while workers die.
//! Workers run continuously, restarted at once when they die (as a kubelet with no backoff would), and are
//! killed on a schedule: in steady state (after running for a while), right after a commit, during a
//! checkpoint cut, during an S3 upload (files up, manifest not yet), during the replay that follows a death,
//! and during a rescale (2 workers ⇄ 1 while the new assignment restores). Only kills of live processes
//! count; a worker that dies by itself, a crash point that ends in anything but its abort, or an unclean
//! SIGTERM stop fails the test. `sluice verify` (the independent oracle) then finds every record once.
//!
//! The test drives whichever `sluice-worker` `sluice_testbed::binaries::binary` finds: the test build's own,
//! or a release build with `SLUICE_BIN_DIR=<target>/release` (the real-speed setting; see
//! docs/reliability.md for its command and results).

// Test code: a failed unwrap is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_testbed::binaries::{binary_dir, terminate};
use sluice_testbed::input::InputBatches;
use sluice_testbed::job_harness::{JobHarness, RunningWorker, WorkerSpec};
use sluice_testbed::rng::Lcg;
use sluice_testbed::testbed::s3_client;
use sluice_testbed::{TestBed, unique_name};

const PARTITIONS: i32 = 4;
/// Records per second of live input, over the three input topics together.
const LIVE_RATE: u32 = 5_000;
/// The worker's default commit settings; checkpoints every 2 s so cuts and uploads are there to be hit.
const JOB_YAML: &str = "state:\n  checkpointInterval: 2s\n  retainedCheckpoints: 3\n";
/// How long a worker must have run before a steady-state kill.
const STEADY_AFTER: Duration = Duration::from_secs(4);
const INPUT: InputBatches = InputBatches {
    cards: 20_000,
    events_per_second: 2_000,
    ..InputBatches::new(2112, PARTITIONS as u32)
};

/// One kind of death, in the order the schedule repeats them.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Steady,
    CrashPoint(&'static str),
    Rescale,
}

const SCHEDULE: [Fault; 6] = [
    Fault::Steady,
    Fault::CrashPoint("after_commit_before_checkpoint"),
    Fault::CrashPoint("during_checkpoint"),
    Fault::CrashPoint("before_manifest"),
    Fault::CrashPoint("during_replay"),
    Fault::Rescale,
];

/// A running worker of the current assignment.
struct Member {
    spec: WorkerSpec,
    worker: RunningWorker,
    started: Instant,
}

/// The workers of the current assignment, restarted at once whenever they die.
struct Fleet<'h> {
    h: &'h JobHarness,
    generation: u32,
    members: Vec<Member>,
    kills: u32,
    aborts: BTreeMap<&'static str, u32>,
    rescales: u32,
}

impl<'h> Fleet<'h> {
    fn start(h: &'h JobHarness) -> Fleet<'h> {
        let mut fleet = Fleet {
            h,
            generation: 0,
            members: Vec::new(),
            kills: 0,
            aborts: BTreeMap::new(),
            rescales: 0,
        };
        fleet.deploy(2, Vec::new());
        fleet
    }

    /// Starts generation `self.generation` with `n` workers splitting the partitions, fencing `fence`.
    fn deploy(&mut self, n: usize, fence: Vec<String>) {
        let per = PARTITIONS as usize / n;
        for i in 0..n {
            let identity = format!("g{}-w{i}", self.generation);
            let spec = WorkerSpec {
                slot: identity.clone(),
                identity,
                partitions: (i * per..(i + 1) * per).map(|p| p as i32).collect(),
                fence: fence.clone(),
                ..WorkerSpec::default()
            };
            let worker = self.h.start(&spec).unwrap();
            self.members.push(Member {
                spec,
                worker,
                started: Instant::now(),
            });
        }
    }

    /// Every worker must still be running: one that exited was not killed by the test.
    fn check_alive(&mut self) {
        for m in &mut self.members {
            if let Some(status) = m.worker.process.try_exit() {
                panic!(
                    "worker {} died on its own ({status}): {}",
                    m.spec.identity,
                    m.worker.process.log_tail(40)
                );
            }
        }
    }

    /// Sleeps `d` while checking that every worker stays alive.
    fn run_for(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            self.check_alive();
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs member `i` (it must be alive) and starts it again at once, armed with `crash_point`.
    fn kill_and_restart(&mut self, i: usize, crash_point: Option<String>) {
        let m = &mut self.members[i];
        m.worker.process.kill_live().unwrap();
        self.kills += 1;
        self.restart(i, crash_point);
    }

    fn restart(&mut self, i: usize, crash_point: Option<String>) {
        let m = &mut self.members[i];
        let spec = WorkerSpec {
            crash_point,
            ..m.spec.clone()
        };
        m.worker = self.h.start(&spec).unwrap();
        m.started = Instant::now();
    }

    /// `input_live` tells whether the live input is still being produced: the commit path's crash points
    /// need input arriving, so one armed as the input ends may never be reached.
    fn inflict(&mut self, fault: Fault, rng: &mut Lcg, input_live: &dyn Fn() -> bool) {
        let i = rng.below(self.members.len() as u64) as usize;
        match fault {
            Fault::Steady => {
                let ran = self.members[i].started.elapsed();
                self.run_for(STEADY_AFTER.saturating_sub(ran));
                self.kill_and_restart(i, None);
            }
            Fault::CrashPoint(name) => self.crash_at(i, name, rng, input_live),
            Fault::Rescale => self.rescale(rng),
        }
    }

    /// Restarts member `i` armed with crash point `name` (a death first: replay needs one), waits for its
    /// abort, and restarts it plain. The hit count puts most aborts well after recovery, in steady state.
    /// When the input ends and is all consumed before the point is reached, the armed worker is SIGKILLed
    /// and restarted plain instead (a kill, not an abort); the test still requires every point hit once.
    fn crash_at(
        &mut self,
        i: usize,
        name: &'static str,
        rng: &mut Lcg,
        input_live: &dyn Fn() -> bool,
    ) {
        let n = match name {
            "after_commit_before_checkpoint" => 20 + rng.below(100),
            "during_replay" => 1,
            _ => 1 + rng.below(3),
        };
        self.kill_and_restart(i, Some(format!("{name}:{n}")));
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let exited = self
                .members
                .iter_mut()
                .enumerate()
                .find_map(|(j, m)| m.worker.process.try_exit().map(|status| (j, status)));
            if let Some((j, status)) = exited {
                let m = &self.members[j];
                let log = m.worker.process.log_tail(40);
                assert!(
                    j == i && sluice_testbed::process::ManagedProcess::is_crash_point_abort(status),
                    "worker {} exited with {status} while {name} was armed in worker {i}: {log}",
                    m.spec.identity
                );
                assert!(
                    log.contains(&format!("crash point {name} reached")),
                    "{log}"
                );
                *self.aborts.entry(name).or_default() += 1;
                self.restart(i, None);
                return;
            }
            if !input_live() && matches!(self.h.lag(), Ok(0)) {
                self.kill_armed(i, name, n);
                self.restart(i, None);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "crash point {name}:{n} not reached within 2 minutes: {}",
                self.members[i].worker.process.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILLs member `i`, armed with `name`:`n`, once the input has ended. Points on the checkpoint path can
    /// still be reached then, between the last check and the signal: such an abort counts as the point's hit
    /// (not as a kill); any other exit fails the test.
    fn kill_armed(&mut self, i: usize, name: &'static str, n: u64) {
        let process = &mut self.members[i].worker.process;
        let killed = process.kill_live();
        let aborted_at_point = process
            .try_exit()
            .is_some_and(sluice_testbed::process::ManagedProcess::is_crash_point_abort)
            && process
                .log_tail(40)
                .contains(&format!("crash point {name} reached"));
        match killed {
            Ok(()) => {
                eprintln!(
                    "crash point {name}:{n} not reached before the input ended; killed plain"
                );
                self.kills += 1;
            }
            Err(_) if aborted_at_point => {
                eprintln!("crash point {name}:{n} reached as the input ended");
                *self.aborts.entry(name).or_default() += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// Moves to the other assignment (2 workers ⇄ 1): the old workers are SIGKILLed mid-stream, the new ones
    /// fence their transactional ids and restore the moved partitions from the store; one of them is killed
    /// again while it restores or replays.
    fn rescale(&mut self, rng: &mut Lcg) {
        let prefix = &self.h.job.transactional_id_prefix;
        let fence: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{prefix}-{}", m.spec.identity))
            .collect();
        let n = if self.members.len() == 2 { 1 } else { 2 };
        for mut m in std::mem::take(&mut self.members) {
            m.worker.process.kill_live().unwrap();
            self.kills += 1;
        }
        self.generation += 1;
        self.rescales += 1;
        self.deploy(n, fence);
        self.run_for(Duration::from_millis(500 + rng.below(2_500)));
        let i = rng.below(n as u64) as usize;
        self.kill_and_restart(i, None);
    }

    /// Lets the workers consume everything, then stops them with SIGTERM and requires clean exits.
    fn finish(mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !matches!(self.h.lag(), Ok(0)) {
            self.check_alive();
            assert!(Instant::now() < deadline, "the input was not consumed");
            std::thread::sleep(Duration::from_millis(300));
        }
        for m in &self.members {
            terminate(m.worker.process.pid());
        }
        for m in &mut self.members {
            let status = m.worker.process.wait_exit(Duration::from_secs(60));
            assert!(
                status.is_some_and(|s| s.success()),
                "worker {} did not stop cleanly ({status:?}): {}",
                m.spec.identity,
                m.worker.process.log_tail(40)
            );
        }
    }
}

#[test]
fn workers_killed_at_speed_lose_and_duplicate_nothing() {
    let started = Instant::now();
    let bed = TestBed::with_kafka_and_s3().unwrap();
    let dir = std::env::temp_dir().join(unique_name("crash-speed"));
    // PLAINTEXT, unlike the other worker tests: on SASL_SSL (2026-12-07, c5b3e79) only 3 rounds of the schedule
    // fit in the live input and `during_checkpoint` was never reached, so the restarts' cost over TLS and
    // SCRAM has to be measured and the schedule paced to it before this test can move (issue #22).
    let mut h = JobHarness::new(bed.kafka_bootstrap(), &dir, PARTITIONS, JOB_YAML).unwrap();
    let bucket = unique_name("crash-speed");
    let endpoint = bed.s3_endpoint().to_string();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(s3_client(&endpoint).create_bucket().bucket(&bucket).send())
        .unwrap();
    h.with_store(&format!("s3://{bucket}/store"), Some(&endpoint));

    // A backlog first, then live input at LIVE_RATE while the workers die.
    let backlog = INPUT.produce(&h, 0, 40_000).unwrap();
    let live = {
        let h = h.clone();
        let paced = InputBatches {
            send_rate: LIVE_RATE,
            ..INPUT
        };
        std::thread::spawn(move || paced.produce(&h, 1, 200_000).unwrap())
    };
    let seed = std::env::var("SLUICE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261206);
    let mut rng = Lcg(seed);
    let mut fleet = Fleet::start(&h);
    let mut round = 0;
    // The schedule repeats while the live input (about a minute of it) lasts: the crash points on the commit
    // path need input arriving.
    while !live.is_finished() {
        fleet.inflict(SCHEDULE[round % SCHEDULE.len()], &mut rng, &|| {
            !live.is_finished()
        });
        round += 1;
    }
    let produced = backlog + live.join().unwrap();
    let (kills, aborts, rescales) = (fleet.kills, fleet.aborts.clone(), fleet.rescales);
    eprintln!(
        "rounds {round}: {kills} SIGKILLs, crash-point aborts {aborts:?}, {rescales} rescales"
    );
    for fault in SCHEDULE {
        if let Fault::CrashPoint(name) = fault {
            assert!(aborts.contains_key(name), "{name} never hit: {aborts:?}");
        }
    }
    assert!(
        rescales >= 1 && kills >= 6,
        "{kills} kills, {rescales} rescales"
    );
    fleet.finish(Duration::from_secs(600));

    let report = h.verify().unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert_eq!(report.input_records, produced, "{report:#?}");
    assert_eq!(report.unprocessed_records, 0, "{report:#?}");
    assert!(report.ok(), "exactly-once violated: {report:#?}");
    let profile = binary_dir().unwrap().display().to_string();
    let events = format!(
        "{kills} SIGKILLs + {} crash-point aborts ({aborts:?}), {rescales} rescales; {backlog} records of \
         backlog, then {LIVE_RATE} records/s live; workers from {profile}",
        aborts.values().sum::<u32>()
    );
    let deaths = kills + aborts.values().sum::<u32>();
    common::report::record(
        "worker crashes at speed (no operator)",
        events,
        deaths,
        Some(&report),
        started,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
