//! Starting one of the three measured systems on a fresh set of job topics, the same way for the latency
//! and the recovery phases: the Sluice worker, the ceiling (identity pipe) and the Flink peer (unbounded).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use sluice_crds::job_config::TopicsConfig;

use super::flink::FlinkRun;
use super::setup::Setup;
use sluice_testbed::TestBedError;
use sluice_testbed::kafka_admin::create_topics;
use sluice_testbed::process::ManagedProcess;

/// The Flink peer's out-of-orderness (its `--out-of-orderness-ms` default): how far its watermark trails
/// the newest event time, hence how long it buffers each event before processing it.
pub const FLINK_OUT_OF_ORDERNESS: Duration = Duration::from_secs(5);

/// The Flink peer's split idle timeout in unbounded runs (`--idle-timeout-ms`): an input partition without
/// a record for this long stops holding back its watermark (the minimum over all 12 splits). Without it a
/// partition that goes quiet — the quick runs' account-changes partitions once every card's account record
/// is out — freezes the watermark, and every later event stays buffered (lost to the completeness check).
pub const FLINK_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    Ceiling,
    Sluice,
    Flink,
}

impl System {
    pub fn name(self) -> &'static str {
        match self {
            System::Ceiling => "ceiling",
            System::Sluice => "sluice",
            System::Flink => "flink",
        }
    }
}

/// Everything needed to start (and restart) a system on one set of topics.
pub struct SystemOnTopics<'a> {
    pub system: System,
    pub setup: &'a Setup,
    /// The run's unique prefix (topics, group, transactional ids).
    pub prefix: String,
    pub topics: TopicsConfig,
    /// The Flink jar and settings (None unless `system` is Flink).
    pub flink: Option<FlinkRun>,
}

impl<'a> SystemOnTopics<'a> {
    /// Creates the pipe's output topic where needed; `flink_template` gives the jar, heap, checkpoint interval.
    pub fn new(
        system: System,
        setup: &'a Setup,
        prefix: &str,
        topics: &TopicsConfig,
        flink_template: Option<&FlinkRun>,
    ) -> Result<SystemOnTopics<'a>, TestBedError> {
        if system == System::Ceiling {
            create_topics(&setup.bootstrap, &[&pipe_output(prefix)], setup.partitions)?;
        }
        let flink = match (system, flink_template) {
            (System::Flink, Some(t)) => Some(FlinkRun {
                bootstrap: setup.bootstrap.clone(),
                inputs: topics.clone(),
                outputs: topics.clone(),
                prefix: format!("{prefix}-flink"),
                partitions: setup.partitions,
                parallelism: setup.partitions,
                checkpoint_dir: setup.dir.join(format!("{prefix}-flink-checkpoints")),
                bounded: false,
                restore_from: None,
                ..t.clone()
            }),
            (System::Flink, None) => {
                return Err(TestBedError::Env(
                    "flink phase without the Flink jar".into(),
                ));
            }
            _ => None,
        };
        Ok(SystemOnTopics {
            system,
            setup,
            prefix: prefix.to_string(),
            topics: topics.clone(),
            flink,
        })
    }

    /// The topic whose records carry decisions (the pipe copies every input record to its output).
    pub fn output(&self) -> String {
        match self.system {
            System::Ceiling => pipe_output(&self.prefix),
            _ => self.topics.decisions.clone(),
        }
    }

    /// The consumer group committing the system's input offsets.
    pub fn group(&self) -> String {
        match self.system {
            System::Ceiling => format!("{}-pipe", self.prefix),
            System::Sluice => self.prefix.clone(),
            System::Flink => format!("{}-flink", self.prefix),
        }
    }

    fn log_name(&self, what: &str) -> String {
        format!("{}-{}-{what}.log", self.prefix, self.system.name())
    }

    /// Starts the system and waits until it is processing: Sluice and the pipe get 3 s for start-up
    /// (init_transactions, recovery); Flink until its first checkpoint completed. `restore_from` resumes
    /// Flink from a retained checkpoint (Sluice resumes from its state directory and the progress log by
    /// itself; the pipe from its committed offsets).
    pub fn start(
        &self,
        what: &str,
        restore_from: Option<PathBuf>,
    ) -> Result<ManagedProcess, TestBedError> {
        if let (System::Flink, Some(f)) = (self.system, &self.flink) {
            let run = FlinkRun {
                restore_from,
                ..f.clone()
            };
            let timeout =
                Duration::from_millis(run.checkpoint_interval_ms) + Duration::from_secs(180);
            return run.spawn_running(&self.setup.dir.join(self.log_name(what)), timeout);
        }
        let mut proc = self.spawn_now(what, None)?;
        std::thread::sleep(Duration::from_secs(3));
        proc.check_alive()?;
        Ok(proc)
    }

    /// Starts the process without waiting (for timing a restart from the process start).
    pub fn spawn_now(
        &self,
        what: &str,
        restore_from: Option<PathBuf>,
    ) -> Result<ManagedProcess, TestBedError> {
        let log = self.log_name(what);
        match (self.system, &self.flink) {
            (System::Flink, Some(f)) => FlinkRun {
                restore_from,
                ..f.clone()
            }
            .spawn(&self.setup.dir.join(log)),
            (System::Sluice, _) => {
                let config = self.setup.worker_config(&self.prefix, &self.topics)?;
                self.setup.spawn_worker(&config, &log)
            }
            _ => {
                let inputs = [
                    self.topics.authorizations.as_str(),
                    self.topics.device_telemetry.as_str(),
                    self.topics.account_changes.as_str(),
                ];
                self.setup
                    .spawn_pipe(&inputs, &self.output(), &self.group(), &log)
            }
        }
    }
}

fn pipe_output(prefix: &str) -> String {
    format!("{prefix}-pipe-out")
}
