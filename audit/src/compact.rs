//! `sluice audit compact`: rewrites each event day's small data files into a few large ones.
//!
//! iceberg-rust 0.10.1 has no action that replaces data files, so the rewrite runs in PyIceberg
//! (`audit/compact/compact.py`, embedded in this crate and passed to the interpreter with `-c`)
//! against the same catalog. Each compacted day is one Iceberg `overwrite` snapshot that copies
//! `sluice.offsets` and `sluice.log-positions` from its parent, so worker recovery is unaffected.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::config::{AuditTableConfig, CatalogConfig, ConfigError};

/// The compaction script, compiled into the binary so a deployed `sluice` needs no source tree.
pub const COMPACT_SCRIPT: &str = include_str!("../compact/compact.py");

/// Environment variable naming the Python interpreter that has PyIceberg installed.
pub const PYTHON_ENV: &str = "SLUICE_PYICEBERG_PYTHON";

/// Environment variable naming the venv directory made by `audit/compact/venv.sh` (default
/// `~/.cache/sluice/pyiceberg-compact-venv`).
pub const VENV_ENV: &str = "SLUICE_PYICEBERG_COMPACT_VENV";

/// A compaction that could not be started or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("invalid audit table configuration: {0}")]
    Config(#[from] ConfigError),

    #[error(
        "python venv with pyiceberg not found ({looked_at}): run audit/compact/venv.sh or set \
         {PYTHON_ENV}"
    )]
    NoPython { looked_at: String },

    #[error("--day {0:?} is not YYYY-MM-DD")]
    BadDay(String),

    #[error("--min-files {0} is below 2 (one file cannot be compacted)")]
    BadMinFiles(u32),

    #[error("running {python}: {source}")]
    Spawn {
        python: String,
        #[source]
        source: std::io::Error,
    },

    #[error("compaction of {table} failed ({status}): {stderr}")]
    Failed {
        table: String,
        status: String,
        stderr: String,
    },

    #[error("compaction of {table}: unreadable summary {stdout:?}: {source}")]
    Summary {
        table: String,
        stdout: String,
        #[source]
        source: serde_json::Error,
    },
}

/// One compacted event day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactedDay {
    pub day: String,
    pub files_before: u64,
    pub files_after: u64,
    pub rows_before: u64,
    pub rows_after: u64,
    pub snapshot_id: Option<i64>,
    /// Commit attempts (more than 1: a worker committed meanwhile and the day was redone).
    pub attempts: u32,
}

/// A day left alone because it has fewer than `--min-files` data files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedDay {
    pub day: String,
    pub files: u64,
}

/// What compact.py printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactSummary {
    pub table: String,
    pub days: Vec<CompactedDay>,
    pub skipped: Vec<SkippedDay>,
}

/// The interpreter: `$SLUICE_PYICEBERG_PYTHON`, else `bin/python` of the venv made by
/// `audit/compact/venv.sh` (`$SLUICE_PYICEBERG_COMPACT_VENV` or
/// `~/.cache/sluice/pyiceberg-compact-venv`). PyIceberg needs its `pyiceberg-core` extra to write
/// a partitioned table.
pub fn find_python() -> Result<PathBuf, CompactError> {
    if let Some(python) = std::env::var_os(PYTHON_ENV) {
        let python = PathBuf::from(python);
        return if python.exists() {
            Ok(python)
        } else {
            Err(CompactError::NoPython {
                looked_at: format!("{PYTHON_ENV}={} does not exist", python.display()),
            })
        };
    }
    let venv = match (std::env::var_os(VENV_ENV), std::env::var_os("HOME")) {
        (Some(venv), _) => PathBuf::from(venv),
        (None, Some(home)) => Path::new(&home).join(".cache/sluice/pyiceberg-compact-venv"),
        (None, None) => {
            return Err(CompactError::NoPython {
                looked_at: format!("neither {PYTHON_ENV}, {VENV_ENV} nor HOME is set"),
            });
        }
    };
    let python = venv.join("bin/python");
    if python.exists() {
        Ok(python)
    } else {
        Err(CompactError::NoPython {
            looked_at: format!("{} does not exist", python.display()),
        })
    }
}

/// [`compact_command_with`] with the interpreter from [`find_python`].
pub fn compact_command(
    cfg: &AuditTableConfig,
    min_files: u32,
    day: Option<&str>,
) -> Result<Command, CompactError> {
    compact_command_with(&find_python()?, cfg, min_files, day)
}

/// The compact.py invocation for `cfg`: every setting as an argument, S3 credentials in the
/// environment (`SLUICE_S3_*`, not visible in `ps`). Compacts days with at least `min_files`
/// data files, only `day` (YYYY-MM-DD, UTC) when given. Run it and parse its stdout with
/// [`run_compaction`].
pub fn compact_command_with(
    python: &Path,
    cfg: &AuditTableConfig,
    min_files: u32,
    day: Option<&str>,
) -> Result<Command, CompactError> {
    cfg.validate()?;
    if min_files < 2 {
        return Err(CompactError::BadMinFiles(min_files));
    }
    if let Some(day) = day
        && !is_iso_day(day)
    {
        return Err(CompactError::BadDay(day.to_string()));
    }
    let (kind, uri) = match &cfg.catalog {
        CatalogConfig::Sql { uri } => ("sql", sqlite_path(uri)),
        CatalogConfig::Rest { uri } => ("rest", uri.clone()),
    };
    let mut cmd = Command::new(python);
    cmd.arg("-c")
        .arg(COMPACT_SCRIPT)
        .args(["--catalog-type", kind, "--catalog-uri", &uri])
        .args(["--warehouse", &cfg.warehouse])
        .args(["--namespace", &cfg.namespace, "--table", &cfg.table])
        .args(["--min-files", &min_files.to_string()]);
    if let Some(day) = day {
        cmd.args(["--day", day]);
    }
    if let Some(s3) = &cfg.s3 {
        cmd.args(["--s3-region", &s3.region]);
        if let Some(endpoint) = &s3.endpoint {
            cmd.args(["--s3-endpoint", endpoint]);
        }
        if s3.path_style {
            cmd.arg("--s3-path-style");
        }
        let credentials = [
            ("SLUICE_S3_ACCESS_KEY_ID", &s3.access_key_id),
            ("SLUICE_S3_SECRET_ACCESS_KEY", &s3.secret_access_key),
            ("SLUICE_S3_SESSION_TOKEN", &s3.session_token),
        ];
        for (key, value) in credentials {
            if let Some(v) = value {
                cmd.env(key, v);
            }
        }
    }
    Ok(cmd)
}

/// Runs a [`compact_command`] to completion and returns its JSON summary.
pub fn run_compaction(
    cfg: &AuditTableConfig,
    mut cmd: Command,
) -> Result<CompactSummary, CompactError> {
    let out = cmd.output().map_err(|source| CompactError::Spawn {
        python: cmd.get_program().to_string_lossy().into_owned(),
        source,
    })?;
    parse_output(cfg, &out)
}

/// The summary of a finished compact.py run (for callers that spawn the command themselves).
pub fn parse_output(
    cfg: &AuditTableConfig,
    out: &std::process::Output,
) -> Result<CompactSummary, CompactError> {
    let table = cfg.qualified_name();
    if !out.status.success() {
        return Err(CompactError::Failed {
            table,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    serde_json::from_str(stdout.trim()).map_err(|source| CompactError::Summary {
        table,
        stdout,
        source,
    })
}

/// The file path of a SQLite catalog given as a path or a `sqlite:` URI (query dropped).
fn sqlite_path(uri: &str) -> String {
    let Some(rest) = uri.strip_prefix("sqlite:") else {
        return uri.to_string();
    };
    let rest = rest.split('?').next().unwrap_or(rest);
    // sqlite:///abs → /abs; sqlite://abs (sqlx's form) → abs.
    match rest.strip_prefix("//") {
        Some(path) => path.to_string(),
        None => rest.to_string(),
    }
}

fn is_iso_day(day: &str) -> bool {
    let b = day.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_uris_become_paths() {
        assert_eq!(sqlite_path("/a/b.db"), "/a/b.db");
        assert_eq!(sqlite_path("sqlite:/a/b.db?mode=rwc"), "/a/b.db");
        assert_eq!(sqlite_path("sqlite:///a/b.db"), "/a/b.db");
        assert!(is_iso_day("2024-03-01"));
        assert!(!is_iso_day("2024-3-01"));
    }
}
