//! The local job file: `job:` (the very `JobConfig` the Kafka worker reads, so a job tried locally behaves the
//! same on a cluster), `generator:` (the deterministic input) and `local:` (where outputs go, pacing, fresh
//! start). Unknown keys are errors everywhere, so a typo never silently falls back to a default.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sluice_api::JobConfig;

use super::LocalError;
use sluice_generator::GeneratorConfig;

/// Most partitions a local run accepts: each one is a RocksDB instance with its own files.
pub const MAX_PARTITIONS: u32 = 256;

/// A whole local job file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalJob {
    /// The job, exactly as the worker reads it. `kafka` is ignored; `state.dir` holds RocksDB state and
    /// checkpoints.
    pub job: JobConfig,
    /// The deterministic input stream (the local "topics").
    #[serde(default)]
    pub generator: GeneratorConfig,
    /// Local-mode settings.
    #[serde(default)]
    pub local: LocalSettings,
}

/// The `local:` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LocalSettings {
    /// Where committed output files and `commits.log` are written (relative paths: to the working directory).
    pub output_dir: String,
    /// Input records per second of wall-clock time; 0 = as fast as possible. Pacing never changes the output.
    pub rate: u32,
    /// Delete previous state and outputs first. When false, a run resumes from what `outputDir` committed.
    pub fresh: bool,
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings {
            output_dir: ".sluice-local/out".into(),
            rate: 0,
            fresh: false,
        }
    }
}

/// One problem in a local job file: the field as written in YAML, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}; fix: {fix}")]
pub struct FieldError {
    pub field: String,
    pub problem: String,
    pub fix: String,
}

impl LocalJob {
    /// Reads, parses and validates the job file at `path`.
    pub fn load(path: &Path) -> Result<LocalJob, LocalError> {
        let text = std::fs::read_to_string(path).map_err(|source| LocalError::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        LocalJob::parse(path, &text)
    }

    /// Parses and validates job file text; `path` only names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<LocalJob, LocalError> {
        let job: LocalJob =
            serde_norway::from_str(text).map_err(|source| LocalError::ParseConfig {
                path: path.to_path_buf(),
                field: locate_bad_duration(text, &source),
                source,
            })?;
        let problems = job.validate();
        if problems.is_empty() {
            Ok(job)
        } else {
            Err(LocalError::InvalidConfig {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// Rules the types cannot express: the job's own rules plus what local mode needs. Returns all problems.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs: Vec<FieldError> = self
            .job
            .validate()
            .into_iter()
            .map(|e| FieldError {
                field: format!("job.{}", e.field),
                problem: e.problem,
                fix: e.fix,
            })
            .collect();
        let mut err = |field: &str, problem: String, fix: &str| {
            errs.push(FieldError {
                field: field.into(),
                problem,
                fix: fix.into(),
            })
        };
        let g = &self.generator;
        if g.partitions == 0 || g.partitions > MAX_PARTITIONS {
            err(
                "generator.partitions",
                format!("{} is not between 1 and {MAX_PARTITIONS}", g.partitions),
                "use e.g. 4",
            );
        }
        if g.cards == 0 {
            err(
                "generator.cards",
                "must be at least 1".into(),
                "use e.g. 20000",
            );
        }
        if g.events_per_second == 0 {
            err(
                "generator.eventsPerSecond",
                "must be at least 1 (it sets the event-time clock)".into(),
                "use e.g. 2000",
            );
        }
        if self.local.output_dir.trim().is_empty() {
            err(
                "local.outputDir",
                "is empty".into(),
                "use e.g. \".sluice-local/out\"",
            );
        }
        if self.job.state.dir.trim().is_empty() {
            err(
                "job.state.dir",
                "is empty".into(),
                "use e.g. \".sluice-local/state\"",
            );
        }
        if Path::new(&self.local.output_dir) == Path::new(&self.job.state.dir) {
            err(
                "local.outputDir",
                format!(
                    "is the same directory as job.state.dir ({})",
                    self.job.state.dir
                ),
                "give outputs and state separate directories, e.g. .sluice-local/out and .sluice-local/state",
            );
        }
        errs
    }
}

/// serde_norway names the field of a type or unknown-field error, but reports an error raised by a field's own
/// `Deserialize` — in this file only a bad duration (`Millis`) — at the enclosing mapping (`job: invalid
/// duration "1.5s"`). Finds the field(s) holding that value so the error can name them.
fn locate_bad_duration(text: &str, err: &serde_norway::Error) -> Option<String> {
    const MARK: &str = "invalid duration \"";
    let msg = err.to_string();
    let rest = msg.get(msg.find(MARK)? + MARK.len()..)?;
    let input = rest.get(..rest.find('"')?)?;
    let value: serde_norway::Value = serde_norway::from_str(text).ok()?;
    let mut found = Vec::new();
    find_string(&value, input, String::new(), &mut found);
    (!found.is_empty()).then(|| found.join(" or "))
}

/// Dotted paths of every string scalar equal to `needle` under `v`.
fn find_string(v: &serde_norway::Value, needle: &str, path: String, found: &mut Vec<String>) {
    match v {
        serde_norway::Value::String(s) if s == needle => found.push(path),
        serde_norway::Value::Mapping(m) => {
            for (k, child) in m {
                let key = k.as_str().map_or_else(|| format!("{k:?}"), str::to_owned);
                let child_path = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                find_string(child, needle, child_path, found);
            }
        }
        _ => {}
    }
}
