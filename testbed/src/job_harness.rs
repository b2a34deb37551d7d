//! A fraud job on the shared test bed, driven like an operator would: write worker configs, start
//! `sluice-worker` processes, wait for them to catch up, stop them, and check the committed output with the
//! independent oracle. Used by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sluice_cli::verify::VerifyReport;
use sluice_crds::JobConfig;
use sluice_crds::audit::{AuditCatalog, AuditSpec, CatalogKind};
use sluice_crds::job_config::KafkaConfig;

use crate::TestBedError;
use crate::binaries::{binary, terminate};
use crate::kafka_admin::{create_job_topics, group_lag, job_topics};
use crate::ports::free_port;
use crate::process::ManagedProcess;
use crate::secured_kafka::SecuredKafka;
use crate::testbed::{S3_ACCESS_KEY, S3_SECRET_KEY, TestBed, unique_name};

/// One worker to start.
#[derive(Clone, Debug, Default)]
pub struct WorkerSpec {
    /// Selects the state directory (`state-<slot>`): the same slot reuses local state, a new slot starts empty.
    pub slot: String,
    pub identity: String,
    pub partitions: Vec<i32>,
    pub fence: Vec<String>,
    pub restore_from: Option<String>,
    pub crash_point: Option<String>,
    /// Serve the control API over TLS with this (certificate, key) PEM pair.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Extra environment variables (e.g. the SASL credential files).
    pub env: Vec<(String, String)>,
}

/// A started worker with its control API address.
pub struct RunningWorker {
    pub process: ManagedProcess,
    pub control_url: String,
    pub metrics_url: String,
}

/// The job under test.
#[derive(Clone, Debug)]
pub struct JobHarness {
    pub dir: PathBuf,
    pub bootstrap: String,
    pub job: JobConfig,
    pub partitions: i32,
    /// Control API bearer token file shared by the workers.
    pub token_file: PathBuf,
    pub token: String,
    s3_endpoint: Option<String>,
    /// Environment of every worker started (the secured listener's credential files and TLS directory).
    worker_env: Vec<(String, String)>,
}

fn cmd_err(what: &str) -> impl FnOnce(String) -> TestBedError + '_ {
    move |output| TestBedError::Command {
        command: what.into(),
        status: "failed".into(),
        output,
    }
}

impl JobHarness {
    /// Creates the job's topics (unique names) and a job config from `extra_yaml` (job fields beyond the
    /// prefix, e.g. commit and checkpoint intervals).
    pub fn new(
        bootstrap: &str,
        dir: &Path,
        partitions: i32,
        extra_yaml: &str,
    ) -> Result<JobHarness, TestBedError> {
        let prefix = unique_name("job");
        let topics = job_topics(&prefix);
        create_job_topics(bootstrap, &topics, partitions)?;
        let yaml = format!("transactionalIdPrefix: {prefix}\n{extra_yaml}");
        let mut job: JobConfig =
            serde_norway::from_str(&yaml).map_err(|e| cmd_err("job yaml")(e.to_string()))?;
        job.topics = topics;
        job.kafka = Some(KafkaConfig {
            bootstrap_servers: bootstrap.to_string(),
            security: None,
            properties: Default::default(),
        });
        std::fs::create_dir_all(dir).map_err(TestBedError::io("creating the job dir"))?;
        let token = format!("token-{}", unique_name("ctl"));
        let token_file = dir.join("control-token");
        std::fs::write(&token_file, &token).map_err(TestBedError::io("writing the token"))?;
        Ok(JobHarness {
            dir: dir.to_path_buf(),
            bootstrap: bootstrap.to_string(),
            job,
            partitions,
            token_file,
            token,
            s3_endpoint: None,
            worker_env: Vec::new(),
        })
    }

    /// The job on `bed`'s broker as the end-to-end tests run it by default: topics, lag and `verify` over
    /// the plaintext listener (the test's own view), the workers over SASL_SSL ([`JobHarness::over_sasl_ssl`]).
    pub fn on_bed(
        bed: &TestBed,
        dir: &Path,
        partitions: i32,
        extra_yaml: &str,
    ) -> Result<JobHarness, TestBedError> {
        let mut h = JobHarness::new(bed.kafka_bootstrap(), dir, partitions, extra_yaml)?;
        h.over_sasl_ssl(bed.kafka_sasl_ssl()?)?;
        Ok(h)
    }

    /// Points the workers at `kafka`: `job.kafka` becomes its address with `security` SASL_SSL and
    /// SCRAM-SHA-512 (the properties kept), and every worker gets the credential files and the CA as the
    /// operator mounts them. Topic set-up, lag and `verify` stay on [`JobHarness::bootstrap`].
    pub fn over_sasl_ssl(&mut self, kafka: &SecuredKafka) -> Result<(), TestBedError> {
        let access = kafka.worker_access(&self.dir)?;
        let properties = self
            .job
            .kafka
            .take()
            .map(|k| k.properties)
            .unwrap_or_default();
        self.job.kafka = Some(KafkaConfig {
            properties,
            ..access.kafka
        });
        self.worker_env = access.env;
        Ok(())
    }

    /// Uses `store_uri` as the checkpoint store; `s3_endpoint` for s3:// stores (test credentials).
    pub fn with_store(&mut self, store_uri: &str, s3_endpoint: Option<&str>) {
        self.job.state.checkpoint_store = Some(store_uri.to_string());
        if let Some(ep) = s3_endpoint {
            self.job.state.s3.endpoint = Some(ep.to_string());
            self.job.state.s3.path_style = true;
            self.s3_endpoint = Some(ep.to_string());
        }
    }

    /// Gives the job an audit table: a SQLite catalog in the job's directory, the warehouse in `bucket` of
    /// the test S3 server.
    pub fn with_audit_table(&mut self, bucket: &str) {
        self.job.audit = Some(AuditSpec {
            catalog: AuditCatalog {
                kind: CatalogKind::Sql,
                uri: self.dir.join("catalog.db").display().to_string(),
            },
            warehouse: format!("s3://{bucket}/warehouse"),
            namespace: "sluice".into(),
            table: "decisions_audit".into(),
            target_file_size_mib: 128,
        });
    }

    pub fn state_dir(&self, slot: &str) -> PathBuf {
        self.dir.join(format!("state-{slot}"))
    }

    /// Writes the worker config for `spec` and returns its path.
    pub fn write_config(&self, spec: &WorkerSpec) -> Result<PathBuf, TestBedError> {
        let mut job = self.job.clone();
        job.state.dir = self.state_dir(&spec.slot).display().to_string();
        let mut worker = serde_json::json!({
            "identity": spec.identity,
            "partitions": spec.partitions,
            "fenceTransactionalIds": spec.fence,
            "controlTokenFile": self.token_file.display().to_string(),
        });
        if let Some(r) = &spec.restore_from {
            worker["restoreFrom"] = serde_json::json!(r);
        }
        let cfg = serde_json::json!({ "job": job, "worker": worker });
        let path = self.dir.join(format!("worker-{}.yaml", spec.identity));
        let text =
            serde_norway::to_string(&cfg).map_err(|e| cmd_err("config yaml")(e.to_string()))?;
        std::fs::write(&path, text).map_err(TestBedError::io("writing a worker config"))?;
        Ok(path)
    }

    /// Starts a worker on free loopback ports.
    pub fn start(&self, spec: &WorkerSpec) -> Result<RunningWorker, TestBedError> {
        let config = self.write_config(spec)?;
        let control = free_port()?;
        let metrics = free_port()?;
        let mut cmd = Command::new(binary("sluice-worker")?);
        // The config file names this job's broker; the shared test bed's SLUICE_KAFKA_BOOTSTRAP in the test's
        // environment would override it (a worker env override) and point a test with a private broker at
        // the wrong one.
        cmd.env_remove("SLUICE_KAFKA_BOOTSTRAP");
        cmd.arg(&config)
            .env("RUST_LOG", "info")
            .env("SLUICE_CONTROL_ADDR", format!("127.0.0.1:{control}"))
            .env("SLUICE_METRICS_ADDR", format!("127.0.0.1:{metrics}"))
            .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        if let Some(fp) = &spec.crash_point {
            cmd.env(sluice_crds::crash_point::ENV, fp);
        }
        if let Some((cert, key)) = &spec.tls {
            cmd.env("SLUICE_CONTROL_TLS_CERT_FILE", cert)
                .env("SLUICE_CONTROL_TLS_KEY_FILE", key);
        }
        cmd.envs(self.worker_env.iter().map(|(k, v)| (k, v)));
        cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
        let scheme = if spec.tls.is_some() { "https" } else { "http" };
        let log = self.dir.join(format!("worker-{}.log", spec.identity));
        let process = ManagedProcess::spawn("sluice-worker", cmd, &log)?;
        Ok(RunningWorker {
            process,
            control_url: format!("{scheme}://127.0.0.1:{control}"),
            metrics_url: format!("http://127.0.0.1:{metrics}/metrics"),
        })
    }

    /// Input records not yet committed by the job's consumer group.
    pub fn lag(&self) -> Result<i64, TestBedError> {
        let t = &self.job.topics;
        group_lag(
            &self.bootstrap,
            &self.job.transactional_id_prefix,
            &[&t.authorizations, &t.device_telemetry, &t.account_changes],
            self.partitions,
        )
    }

    /// Waits until every input record is committed, failing early if a worker dies.
    pub fn wait_caught_up(
        &self,
        workers: &mut [RunningWorker],
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let lag = self.lag().map_err(|e| e.to_string())?;
            if lag == 0 {
                return Ok(());
            }
            for w in workers.iter_mut() {
                if w.process.try_exit().is_some() {
                    return Err(format!("worker died: {}", w.process.log_tail(40)));
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "still {lag} records behind; logs in {}",
                    self.dir.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// SIGTERM every worker and require clean exits.
    pub fn stop_all(&self, workers: Vec<RunningWorker>) -> Result<(), String> {
        for w in &workers {
            terminate(w.process.pid());
        }
        for mut w in workers {
            match w.process.wait_exit(Duration::from_secs(60)) {
                Some(s) if s.success() => {}
                other => return Err(format!("worker exit {other:?}: {}", w.process.log_tail(40))),
            }
        }
        Ok(())
    }

    /// `sluice verify` over the committed output.
    pub fn verify(&self) -> Result<VerifyReport, String> {
        sluice_cli::verify::verify(&self.bootstrap, &self.job).map_err(|e| e.to_string())
    }
}
