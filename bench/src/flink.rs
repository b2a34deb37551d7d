//! The Apache Flink peer (`bench/flink-fraud`): building its fat jar (cached by content hash) and
//! draining pre-loaded topics with it on a local mini cluster, measured like the Sluice worker.
//!
//! The peer runs in `--bounded` mode: it reads every input up to the end offsets it finds at start, the
//! end-of-input watermark releases its buffered events, and its final checkpoint commits the last Kafka
//! transaction. The drain is over when the job reports it finished, or earlier when its consumer group has
//! no lag and no output partition holds an open transaction (what a read_committed consumer can see is
//! then final). `--hold` keeps the JVM alive after the job so CPU time and peak RSS can still be read.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sluice_crds::job_config::TopicsConfig;

use crate::procstat::{cpu_seconds, peak_rss_kib};
use crate::systems::FLINK_IDLE_TIMEOUT;
use crate::timeline::{CommittedSampler, Sample};
use sluice_testbed::TestBedError;
use sluice_testbed::binaries::terminate;
use sluice_testbed::kafka_admin::group_lag;
use sluice_testbed::process::{ManagedProcess, log_contains};

/// The Maven project, relative to this crate.
const PROJECT: &str = "bench/flink-fraud";
/// The line the peer logs once `env.execute` has returned.
const FINISHED: &str = "flink-fraud: job finished";
/// Flink's CheckpointCoordinator (logged at INFO by the peer's simplelogger.properties).
const CHECKPOINT_COMPLETED: &str = "Completed checkpoint";
/// How long one drain may take before the harness gives up (a 5M-record drain on 2 cores is minutes).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

fn env_err(what: impl std::fmt::Display) -> TestBedError {
    TestBedError::Env(format!("flink peer: {what}"))
}

/// The Maven project directory of the peer.
pub fn project_dir() -> PathBuf {
    sluice_testbed::cache::repo_root().join(PROJECT)
}

/// FNV-1a over `pom.xml` and every file under `src/main` (paths and contents, in sorted order): the jar's
/// cache key, so any change to the peer's sources or build rebuilds it.
pub fn source_hash(project: &Path) -> Result<u64, TestBedError> {
    let mut files = vec![project.join("pom.xml")];
    let mut dirs = vec![project.join("src").join("main")];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| env_err(format_args!("reading {}: {e}", dir.display())))?;
        for entry in entries {
            let path = entry.map_err(env_err)?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for f in files {
        let rel = f
            .strip_prefix(project)
            .unwrap_or(&f)
            .to_string_lossy()
            .into_owned();
        let body =
            std::fs::read(&f).map_err(|e| env_err(format_args!("reading {}: {e}", f.display())))?;
        for b in rel.as_bytes().iter().chain([0u8].iter()).chain(body.iter()) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(hash)
}

/// The peer's fat jar under `cache_root/flink-fraud/<hash>/`, built with `mvn -q package -DskipTests` when
/// missing (Maven's cache is `$HOME/.m2`; a cold build downloads Flink and takes about a minute). Made with
/// [`sluice_testbed::once::create_once`]: two benchmark runs on an empty cache build it once, and Maven's `target/`
/// in the source tree has one writer at a time.
pub fn ensure_jar(cache_root: &Path) -> Result<PathBuf, TestBedError> {
    let project = project_dir();
    let hash = format!("{:016x}", source_hash(&project)?);
    let dir = cache_root.join("flink-fraud").join(&hash);
    sluice_testbed::once::create_once(&dir, &hash, |staging| {
        tracing::info!(project = %project.display(), "building the Flink peer with Maven");
        let started = Instant::now();
        let status = sluice_testbed::install::maven()
            .args(["-q", "package", "-DskipTests"])
            .current_dir(&project)
            .status()
            .map_err(|e| env_err(format_args!("running mvn (is Maven installed?): {e}")))?;
        if !status.success() {
            return Err(env_err(format_args!("mvn package failed: {status}")));
        }
        eprintln!(
            "flink peer: built in {:.0}s",
            started.elapsed().as_secs_f64()
        );
        std::fs::copy(
            project.join("target").join("flink-fraud.jar"),
            staging.join("flink-fraud.jar"),
        )
        .map_err(|e| env_err(format_args!("copying the jar: {e}")))?;
        Ok(())
    })?;
    Ok(dir.join("flink-fraud.jar"))
}

/// One run of the peer.
#[derive(Debug, Clone)]
pub struct FlinkRun {
    pub jar: PathBuf,
    pub bootstrap: String,
    /// Input topics are read from here; outputs go to `outputs`' decisions/alerts/dlq/late.
    pub inputs: TopicsConfig,
    pub outputs: TopicsConfig,
    /// Consumer group and transactional id prefix.
    pub prefix: String,
    pub parallelism: i32,
    /// Partitions of every input and output topic.
    pub partitions: i32,
    pub checkpoint_interval_ms: u64,
    pub checkpoint_dir: PathBuf,
    /// JVM heap (-Xmx) in MiB.
    pub heap_mib: u32,
    /// Read up to the end offsets found at start, then finish (the drain); otherwise run until stopped.
    pub bounded: bool,
    /// Resume from this retained checkpoint (`chk-N` directory) instead of starting empty.
    pub restore_from: Option<PathBuf>,
}

/// What one drain measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlinkDrain {
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub peak_rss_kib: u64,
    /// How the end was detected: "job finished" or "no lag, no open transaction".
    pub ended_by: String,
    /// The group's committed input offsets about every second (they move when a checkpoint completes).
    pub timeline: Vec<Sample>,
}

impl FlinkRun {
    fn command(&self) -> Command {
        let mut cmd = Command::new("java");
        cmd.arg(format!("-Xmx{}m", self.heap_mib))
            .arg("-jar")
            .arg(&self.jar)
            .args(["--bootstrap", &self.bootstrap])
            .args(["--transactional-id-prefix", &self.prefix])
            .args(["--group-id", &self.prefix])
            .args(["--parallelism", &self.parallelism.to_string()])
            .args([
                "--checkpoint-interval-ms",
                &self.checkpoint_interval_ms.to_string(),
            ])
            .arg("--checkpoint-dir")
            .arg(&self.checkpoint_dir)
            .args(["--authorizations", &self.inputs.authorizations])
            .args(["--device-telemetry", &self.inputs.device_telemetry])
            .args(["--account-changes", &self.inputs.account_changes])
            .args(["--decisions", &self.outputs.decisions])
            .args(["--alerts", &self.outputs.alerts])
            .args(["--dlq", &self.outputs.dlq])
            .args(["--late", &self.outputs.late]);
        if self.bounded {
            cmd.args(["--bounded", "--hold"]);
        } else {
            cmd.args([
                "--idle-timeout-ms",
                &FLINK_IDLE_TIMEOUT.as_millis().to_string(),
            ]);
        }
        if let Some(from) = &self.restore_from {
            cmd.arg("--restore-from").arg(from);
        }
        cmd
    }

    /// Starts the peer (its log goes to `log`).
    pub fn spawn(&self, log: &Path) -> Result<ManagedProcess, TestBedError> {
        ManagedProcess::spawn("flink-fraud", self.command(), log)
    }

    /// Starts the peer and waits until its first checkpoint has completed: every task is running and the
    /// sink has committed once, so from here on the latency of new input is the job's, not its start-up's.
    pub fn spawn_running(
        &self,
        log: &Path,
        timeout: Duration,
    ) -> Result<ManagedProcess, TestBedError> {
        let mut proc = self.spawn(log)?;
        let started = Instant::now();
        while !log_contains(log, CHECKPOINT_COMPLETED) {
            proc.check_alive()?;
            if started.elapsed() > timeout {
                proc.kill();
                return Err(env_err(format_args!(
                    "no completed checkpoint {timeout:?} after start; log {}",
                    log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(proc)
    }

    /// Starts the peer, waits until its output is final, samples CPU and peak RSS, and stops it.
    pub fn drain(&self, log: &Path) -> Result<FlinkDrain, TestBedError> {
        let started = Instant::now();
        let mut proc = self.spawn(log)?;
        let inputs = [
            self.inputs.authorizations.as_str(),
            self.inputs.device_telemetry.as_str(),
            self.inputs.account_changes.as_str(),
        ];
        let outputs = [
            self.outputs.decisions.as_str(),
            self.outputs.alerts.as_str(),
            self.outputs.dlq.as_str(),
            self.outputs.late.as_str(),
        ];
        let mut sampler = CommittedSampler::new(
            &self.bootstrap,
            &self.prefix,
            &inputs,
            self.partitions,
            started,
        )?;
        let ended_by = loop {
            sampler.tick();
            proc.check_alive()?;
            if started.elapsed() > DRAIN_TIMEOUT {
                return Err(env_err(format_args!(
                    "no end after {DRAIN_TIMEOUT:?}; log: {}",
                    log.display()
                )));
            }
            if log_contains(log, FINISHED) {
                break "job finished";
            }
            if group_lag(&self.bootstrap, &self.prefix, &inputs, self.partitions)? == 0
                && open_transaction_records(&self.bootstrap, &outputs, self.partitions)? == 0
            {
                break "no lag, no open transaction";
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let seconds = started.elapsed().as_secs_f64();
        let drained = FlinkDrain {
            seconds,
            cpu_seconds: cpu_seconds(proc.pid()).unwrap_or(0.0),
            peak_rss_kib: peak_rss_kib(proc.pid()).unwrap_or(0),
            ended_by: ended_by.to_string(),
            timeline: sampler.finish(topic_end(&self.bootstrap, &inputs, self.partitions)),
        };
        terminate(proc.pid());
        if proc.wait_exit(Duration::from_secs(30)).is_none() {
            proc.kill();
        }
        Ok(drained)
    }
}

/// Records written to `topics` that a read_committed consumer cannot see yet: the sum over partitions of
/// high watermark − last stable offset (librdkafka answers a read_committed client with the LSO).
pub fn open_transaction_records(
    bootstrap: &str,
    topics: &[&str],
    partitions: i32,
) -> Result<i64, TestBedError> {
    let client = |isolation: &str| {
        ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("isolation.level", isolation)
            .create::<BaseConsumer>()
            .map_err(|e| env_err(format_args!("watermark client: {e}")))
    };
    let (committed, all) = (client("read_committed")?, client("read_uncommitted")?);
    let mut open = 0;
    for t in topics {
        for p in 0..partitions {
            let timeout = Duration::from_secs(10);
            let (_, stable) = committed
                .fetch_watermarks(t, p, timeout)
                .map_err(|e| env_err(format_args!("LSO of {t}/{p}: {e}")))?;
            let (_, high) = all
                .fetch_watermarks(t, p, timeout)
                .map_err(|e| env_err(format_args!("high watermark of {t}/{p}: {e}")))?;
            open += (high - stable).max(0);
        }
    }
    Ok(open)
}

/// The sum of the high watermarks of `topics` (what a fully drained group has committed).
fn topic_end(bootstrap: &str, topics: &[&str], partitions: i32) -> i64 {
    topics
        .iter()
        .map(|t| crate::setup::topic_size(bootstrap, t, partitions))
        .sum()
}

/// The newest completed checkpoint under `checkpoint_dir` (`<job id>/chk-N` holding `_metadata`; a
/// checkpoint in progress when the JVM was killed has no `_metadata` yet): the latest written, then highest N.
pub fn latest_checkpoint(checkpoint_dir: &Path) -> Result<Option<PathBuf>, TestBedError> {
    let mut best: Option<(u64, std::time::SystemTime, PathBuf)> = None;
    let Ok(jobs) = std::fs::read_dir(checkpoint_dir) else {
        return Ok(None);
    };
    for job in jobs {
        let job = job.map_err(env_err)?.path();
        let Ok(entries) = std::fs::read_dir(&job) else {
            continue;
        };
        for e in entries {
            let path = e.map_err(env_err)?.path();
            let n = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("chk-"))
                .and_then(|n| n.parse::<u64>().ok());
            let meta = path.join("_metadata");
            let (Some(n), Ok(m)) = (n, std::fs::metadata(&meta)) else {
                continue;
            };
            let mtime = m.modified().map_err(env_err)?;
            if best
                .as_ref()
                .is_none_or(|(bn, bt, _)| (mtime, n) > (*bt, *bn))
            {
                best = Some((n, mtime, path));
            }
        }
    }
    Ok(best.map(|(_, _, p)| p))
}
