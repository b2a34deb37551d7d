//! The worker's configuration: the job (shared with the operator) plus this worker's identity and partitions.

use std::num::{NonZeroU16, NonZeroUsize};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_api::worker_env;
use sluice_api::{ConfigError, JobConfig};

use crate::kafka::credential_rotation::{
    CredentialFiles, SaslCredentials, SaslFiles, TLS_FILE_PROPERTIES, without_line_end,
};

/// Who this worker is and what it owns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkerAssignment {
    /// Stable identity; the transactional.id is `<transactionalIdPrefix>-<identity>`.
    pub identity: String,
    /// Input partitions this worker owns (a task per partition).
    pub partitions: Vec<i32>,
    /// Transactional ids of a previous assignment to fence before starting (after a rescale), so no old
    /// open transaction blocks read_committed consumers or commits late.
    #[serde(default)]
    pub fence_transactional_ids: Vec<String>,
    /// Control API listen address. Default `<POD_IP or 0.0.0.0>:8080`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_addr: Option<String>,
    /// Prometheus `/metrics` listen address. Default `<POD_IP or 0.0.0.0>:9091`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_addr: Option<String>,
    /// File holding the control API bearer token (a mounted Secret). Absent: `/v1/*` answers 401.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_token_file: Option<String>,
    /// People's access to the control API with OIDC tokens (`SLUICE_CONTROL_OIDC`, JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_oidc: Option<sluice_api::control_oidc::OidcSettings>,
    /// PEM certificate chain for serving the control API over TLS (with `controlTlsKeyFile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_tls_cert_file: Option<String>,
    /// PEM private key for the control API's TLS certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_tls_key_file: Option<String>,
    /// Savepoint (directory URI inside the checkpoint store) to start from when no newer committed state exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_from: Option<String>,
    /// The state lineage to continue (set by the operator after a redeploy from a savepoint); absent: the
    /// job's original lineage. Checkpoints of another lineage are never restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
    /// Threads that process the owned partitions in parallel while input is backlogged (each thread takes
    /// whole partitions). Default: the CPUs available to the process (its cgroup CPU quota), at most one
    /// per owned partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_threads: Option<NonZeroU16>,
    /// Where the Kafka SASL credentials were read from (environment only), so they can be read again when
    /// they rotate (`crate::kafka::credential_rotation`).
    #[serde(skip)]
    pub sasl_files: Option<SaslFiles>,
}

impl WorkerAssignment {
    /// How many threads a processing round may use.
    pub fn processing_threads(&self) -> usize {
        let wanted = match self.processing_threads {
            Some(n) => usize::from(n.get()),
            None => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        wanted.clamp(1, self.partitions.len().max(1))
    }

    /// The control API address to bind.
    pub fn control_addr(&self, pod_ip: Option<&str>) -> String {
        self.control_addr.clone().unwrap_or_else(|| {
            sluice_api::control::host_port(
                pod_ip.unwrap_or("0.0.0.0"),
                sluice_api::control::CONTROL_PORT,
            )
        })
    }

    /// The metrics address to bind.
    pub fn metrics_addr(&self, pod_ip: Option<&str>) -> String {
        self.metrics_addr.clone().unwrap_or_else(|| {
            sluice_api::control::host_port(
                pod_ip.unwrap_or("0.0.0.0"),
                sluice_api::control::METRICS_PORT,
            )
        })
    }
}

/// The worker's config file: `job:` and `worker:` sections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkerConfig {
    pub job: JobConfig,
    pub worker: WorkerAssignment,
}

/// Why the worker configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum WorkerConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: serde_norway::Error,
    },
    #[error(
        "reading the file named by {env} ({path}): {source}; mount the Secret there or unset {env}"
    )]
    SecretFile {
        env: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{env}={value:?}: {reason}")]
    EnvValue {
        env: &'static str,
        value: String,
        reason: String,
    },
    #[error("invalid configuration:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigError>),
}

/// `SLUICE_WORKER_PARTITIONS`: comma-separated partition numbers, each once. Anything else is an error — a
/// silently dropped entry would leave a partition without its worker.
fn parse_partitions(raw: &str) -> Result<Vec<i32>, String> {
    let mut out = Vec::new();
    for entry in raw.split(',').map(str::trim) {
        let p = entry
            .parse::<i32>()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| {
                format!("{entry:?} is not a partition number; write comma-separated numbers ≥ 0, e.g. \"0,1,2\"")
            })?;
        if out.contains(&p) {
            return Err(format!("partition {p} is listed twice"));
        }
        out.push(p);
    }
    Ok(out)
}

impl WorkerConfig {
    fn oidc_errors(&self) -> Vec<ConfigError> {
        let Some(oidc) = &self.worker.control_oidc else {
            return Vec::new();
        };
        oidc.problems()
            .into_iter()
            .map(|p| ConfigError {
                field: p.field.worker_path(),
                problem: p.problem,
                fix: "correct spec.controlApi.oidc (see docs/security.md, \"OIDC\")".into(),
            })
            .collect()
    }

    /// Reads the YAML file, applies environment overrides, validates.
    ///
    /// Overrides (what a Pod spec sets per worker): `SLUICE_KAFKA_BOOTSTRAP`, `SLUICE_WORKER_IDENTITY`,
    /// `SLUICE_WORKER_PARTITIONS` (comma-separated), `SLUICE_STATE_DIR`, `SLUICE_FENCE_TRANSACTIONAL_IDS`
    /// (comma-separated), `SLUICE_CONTROL_ADDR`, `SLUICE_METRICS_ADDR`, `SLUICE_CONTROL_TOKEN_FILE`,
    /// `SLUICE_RESTORE_FROM`, `SLUICE_LINEAGE`, `SLUICE_CHECKPOINT_STORE`, `SLUICE_MODEL_PATH`, `SLUICE_CONTROL_TLS_CERT_FILE`,
    /// `SLUICE_CONTROL_TLS_KEY_FILE`; Kafka SASL credentials from `SLUICE_KAFKA_SASL_USERNAME_FILE` and
    /// `SLUICE_KAFKA_SASL_PASSWORD_FILE`, the TLS files of `job.kafka.security` from `SLUICE_KAFKA_TLS_DIR`.
    pub fn load(path: &Path) -> Result<WorkerConfig, WorkerConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| WorkerConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut cfg: WorkerConfig =
            serde_norway::from_str(&text).map_err(|source| WorkerConfigError::Parse {
                path: shown,
                source,
            })?;
        cfg.apply_env(|k| std::env::var(k).ok())?;
        // Validated before the secret files are read: the file may not carry secrets itself, and the
        // credentials read below are added only after that check.
        let errs = cfg.validate();
        if !errs.is_empty() {
            return Err(WorkerConfigError::Invalid(errs));
        }
        cfg.apply_secret_files(|k| std::env::var(k).ok())?;
        cfg.apply_kafka_security(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    /// `job.kafka.security` into client properties, with the TLS files of `SLUICE_KAFKA_TLS_DIR` (after the
    /// SASL files were read, whose presence it checks).
    fn apply_kafka_security(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(), WorkerConfigError> {
        let tls_dir = get(worker_env::KAFKA_TLS_DIR)
            .filter(|d| !d.trim().is_empty())
            .map(PathBuf::from);
        let has_sasl = self.worker.sasl_files.is_some();
        match self.job.kafka.as_mut() {
            Some(kafka) => crate::kafka::security::apply(kafka, tls_dir.as_deref(), has_sasl)
                .map_err(|e| WorkerConfigError::Invalid(vec![e])),
            None => Ok(()),
        }
    }

    fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), WorkerConfigError> {
        if let Some(b) = get(worker_env::KAFKA_BOOTSTRAP) {
            let kafka = self
                .job
                .kafka
                .get_or_insert_with(|| sluice_api::job_config::KafkaConfig {
                    bootstrap_servers: String::new(),
                    security: None,
                    properties: Default::default(),
                });
            kafka.bootstrap_servers = b;
        }
        if let Some(id) = get(worker_env::WORKER_IDENTITY) {
            self.worker.identity = id;
        }
        if let Some(p) = get(worker_env::WORKER_PARTITIONS) {
            self.worker.partitions =
                parse_partitions(&p).map_err(|reason| WorkerConfigError::EnvValue {
                    env: worker_env::WORKER_PARTITIONS,
                    value: p.clone(),
                    reason,
                })?;
        }
        if let Some(d) = get(worker_env::STATE_DIR) {
            self.job.state.dir = d;
        }
        if let Some(ids) = get(worker_env::FENCE_TRANSACTIONAL_IDS) {
            self.worker.fence_transactional_ids = ids
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
        }
        let non_empty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(a) = non_empty(worker_env::CONTROL_ADDR) {
            self.worker.control_addr = Some(a);
        }
        if let Some(a) = non_empty(worker_env::METRICS_ADDR) {
            self.worker.metrics_addr = Some(a);
        }
        if let Some(f) = non_empty(worker_env::CONTROL_TOKEN_FILE) {
            self.worker.control_token_file = Some(f);
        }
        if let Some(o) = non_empty(worker_env::CONTROL_OIDC) {
            self.worker.control_oidc =
                Some(
                    serde_json::from_str(&o).map_err(|e| WorkerConfigError::EnvValue {
                        env: worker_env::CONTROL_OIDC,
                        value: o.clone(),
                        reason: format!("not the OIDC settings as JSON: {e}"),
                    })?,
                );
        }
        if let Some(c) = non_empty(worker_env::CONTROL_TLS_CERT_FILE) {
            self.worker.control_tls_cert_file = Some(c);
        }
        if let Some(k) = non_empty(worker_env::CONTROL_TLS_KEY_FILE) {
            self.worker.control_tls_key_file = Some(k);
        }
        if let Some(r) = non_empty(worker_env::RESTORE_FROM) {
            self.worker.restore_from = Some(r);
        }
        if let Some(l) = non_empty(worker_env::LINEAGE) {
            self.worker.lineage = Some(l);
        }
        if let Some(s) = non_empty(worker_env::CHECKPOINT_STORE) {
            self.job.state.checkpoint_store = Some(s);
        }
        if let Some(m) = non_empty(worker_env::MODEL_PATH) {
            self.job.model_path = Some(m);
        }
        Ok(())
    }

    /// Kafka SASL credentials from files (a mounted Secret, see `spec.kafkaAuth.saslSecret`):
    /// `SLUICE_KAFKA_SASL_USERNAME_FILE` and `SLUICE_KAFKA_SASL_PASSWORD_FILE` become librdkafka's
    /// `sasl.username` and `sasl.password`, and the files are remembered so the worker follows their
    /// rotation. The values are never logged; a trailing newline is dropped.
    fn apply_secret_files(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(), WorkerConfigError> {
        let path_of = |env: &str| get(env).filter(|p| !p.trim().is_empty());
        let username = path_of(worker_env::KAFKA_SASL_USERNAME_FILE);
        let password = path_of(worker_env::KAFKA_SASL_PASSWORD_FILE);
        for (env, property, path) in [
            (
                worker_env::KAFKA_SASL_USERNAME_FILE,
                "sasl.username",
                &username,
            ),
            (
                worker_env::KAFKA_SASL_PASSWORD_FILE,
                "sasl.password",
                &password,
            ),
        ] {
            let Some(path) = path else {
                continue;
            };
            let value = read_secret_file(env, path)?;
            if let Some(kafka) = self.job.kafka.as_mut() {
                kafka.properties.insert(property.to_string(), value);
            }
        }
        self.worker.sasl_files = password.map(|p| SaslFiles {
            username: username.map(Into::into),
            password: p.into(),
        });
        Ok(())
    }

    /// The files the Kafka clients take credentials from (SASL files, and the TLS files the properties
    /// name), with the SASL pair they are created with; `None` when there is no such file.
    pub fn credential_files(&self) -> Option<(CredentialFiles, Option<SaslCredentials>)> {
        let props = &self.job.kafka.as_ref()?.properties;
        let tls: Vec<PathBuf> = TLS_FILE_PROPERTIES
            .iter()
            .filter_map(|k| props.get(*k))
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .collect();
        let sasl = self.worker.sasl_files.clone();
        if sasl.is_none() && tls.is_empty() {
            return None;
        }
        let credentials = sasl.as_ref().and_then(|_| {
            Some(SaslCredentials {
                username: props.get("sasl.username").cloned().unwrap_or_default(),
                password: props.get("sasl.password").cloned()?,
            })
        });
        Some((CredentialFiles { sasl, tls }, credentials))
    }

    /// Job rules plus the worker-specific ones.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errs = self.job.validate();
        if self
            .job
            .kafka
            .as_ref()
            .is_none_or(|k| k.bootstrap_servers.is_empty())
        {
            errs.push(ConfigError {
                field: "job.kafka.bootstrapServers",
                problem: "is required by sluice-worker".into(),
                fix: "set it in the file or via SLUICE_KAFKA_BOOTSTRAP".into(),
            });
        }
        if self.worker.identity.is_empty()
            || !self
                .worker
                .identity
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            errs.push(ConfigError {
                field: "worker.identity",
                problem: format!(
                    "{:?} is not 1+ characters of [A-Za-z0-9._-]",
                    self.worker.identity
                ),
                fix: "use e.g. \"p2-w0\" (parallelism 2, ordinal 0)".into(),
            });
        }
        let mut sorted = self.worker.partitions.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.is_empty()
            || sorted.len() != self.worker.partitions.len()
            || sorted.iter().any(|p| *p < 0)
        {
            errs.push(ConfigError {
                field: "worker.partitions",
                problem: format!(
                    "{:?} must be a non-empty list of distinct partitions ≥ 0",
                    self.worker.partitions
                ),
                fix: "list the input partitions this worker owns, e.g. [0, 1]".into(),
            });
        }
        for (field, addr) in [
            ("worker.controlAddr", &self.worker.control_addr),
            ("worker.metricsAddr", &self.worker.metrics_addr),
        ] {
            if let Some(a) = addr
                && a.parse::<std::net::SocketAddr>().is_err()
            {
                errs.push(ConfigError {
                    field,
                    problem: format!("{a:?} is not an ip:port address"),
                    fix: "use e.g. \"0.0.0.0:8080\"".into(),
                });
            }
        }
        errs.extend(self.oidc_errors());
        if self.worker.control_tls_cert_file.is_some() != self.worker.control_tls_key_file.is_some()
        {
            errs.push(ConfigError {
                field: "worker.controlTlsCertFile",
                problem: "TLS needs both a certificate and a key file".into(),
                fix: "set both worker.controlTlsCertFile and worker.controlTlsKeyFile, or neither"
                    .into(),
            });
        }
        if self.worker.restore_from.is_some() && self.job.state.checkpoint_store.is_none() {
            errs.push(ConfigError {
                field: "worker.restoreFrom",
                problem: "restoring a savepoint needs the checkpoint store it lives in".into(),
                fix: "set job.state.checkpointStore to the store holding the savepoint".into(),
            });
        }
        errs
    }
}

/// One secret file's content without its trailing newline; an error names the variable and the path.
fn read_secret_file(env: &'static str, path: &str) -> Result<String, WorkerConfigError> {
    let value = std::fs::read_to_string(path).map_err(|source| WorkerConfigError::SecretFile {
        env,
        path: path.to_string(),
        source,
    })?;
    Ok(without_line_end(&value).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "job:\n  transactionalIdPrefix: fraud\n  kafka:\n    bootstrapServers: 127.0.0.1:9092\nworker:\n  identity: p1-w0\n  partitions: [0, 1]\n";

    #[test]
    fn env_overrides_win() {
        let mut cfg: WorkerConfig = serde_norway::from_str(YAML).unwrap();
        cfg.apply_env(|k| match k {
            "SLUICE_WORKER_PARTITIONS" => Some("2, 3".into()),
            "SLUICE_KAFKA_BOOTSTRAP" => Some("127.0.0.2:1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.worker.partitions, vec![2, 3]);
        assert_eq!(cfg.job.kafka.unwrap().bootstrap_servers, "127.0.0.2:1");
    }

    #[test]
    fn a_malformed_partition_list_is_an_error_naming_the_variable() {
        for bad in ["2,x", "2,,3", "", "-1", "3,3", "1;2"] {
            let mut cfg: WorkerConfig = serde_norway::from_str(YAML).unwrap();
            let err = cfg
                .apply_env(|k| (k == "SLUICE_WORKER_PARTITIONS").then(|| bad.to_string()))
                .unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with("SLUICE_WORKER_PARTITIONS="), "{bad}: {msg}");
        }
    }

    #[test]
    fn sasl_credentials_come_from_the_secret_files() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("username");
        let pass = dir.path().join("password");
        std::fs::write(&user, "fraud-job\n").unwrap();
        std::fs::write(&pass, "s3cr3t").unwrap();
        let mut cfg: WorkerConfig = serde_norway::from_str(YAML).unwrap();
        let (u, p) = (user.display().to_string(), pass.display().to_string());
        cfg.apply_secret_files(|k| match k {
            "SLUICE_KAFKA_SASL_USERNAME_FILE" => Some(u.clone()),
            "SLUICE_KAFKA_SASL_PASSWORD_FILE" => Some(p.clone()),
            _ => None,
        })
        .unwrap();
        let props = cfg.job.kafka.unwrap().properties;
        assert_eq!(props["sasl.username"], "fraud-job");
        assert_eq!(props["sasl.password"], "s3cr3t");

        let mut cfg: WorkerConfig = serde_norway::from_str(YAML).unwrap();
        let err = cfg
            .apply_secret_files(|k| {
                (k == "SLUICE_KAFKA_SASL_PASSWORD_FILE").then(|| "/nonexistent/password".into())
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("SLUICE_KAFKA_SASL_PASSWORD_FILE"), "{err}");
        assert!(err.contains("/nonexistent/password"), "{err}");
    }

    #[test]
    fn ipv6_pod_ips_give_bindable_addresses() {
        let cfg: WorkerConfig = serde_norway::from_str(YAML).unwrap();
        for (ip, want) in [
            (Some("fd00:10:244::7"), "[fd00:10:244::7]:8080"),
            (Some("10.244.0.7"), "10.244.0.7:8080"),
            (None, "0.0.0.0:8080"),
        ] {
            let addr = cfg.worker.control_addr(ip);
            assert_eq!(addr, want);
            addr.parse::<std::net::SocketAddr>().unwrap();
        }
        let metrics = cfg.worker.metrics_addr(Some("fd00::1"));
        assert_eq!(metrics, "[fd00::1]:9091");
    }

    #[test]
    fn duplicate_partitions_name_the_field() {
        let mut cfg: WorkerConfig = serde_norway::from_str(YAML).unwrap();
        cfg.worker.partitions = vec![1, 1];
        let errs = cfg.validate();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "worker.partitions");
    }

    #[test]
    fn processing_threads_are_bounded_by_the_owned_partitions_and_never_zero() {
        let mut cfg: WorkerConfig = serde_norway::from_str(YAML).unwrap();
        cfg.worker.partitions = vec![0, 1];
        cfg.worker.processing_threads = NonZeroU16::new(8);
        assert_eq!(cfg.worker.processing_threads(), 2);
        cfg.worker.processing_threads = NonZeroU16::new(1);
        assert_eq!(cfg.worker.processing_threads(), 1);
        cfg.worker.processing_threads = None;
        assert!((1..=2).contains(&cfg.worker.processing_threads()));
        let zero = YAML.replace("worker:\n", "worker:\n  processingThreads: 0\n");
        assert_ne!(zero, YAML, "the fixture has a worker section");
        let err = serde_norway::from_str::<WorkerConfig>(&zero).unwrap_err();
        assert!(err.to_string().contains("processingThreads"), "{err}");
    }
}
