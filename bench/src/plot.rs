//! The runs' PNG plots, drawn from their JSON by `bench/plot/plot.py` and `bench/plot/soak.py` (matplotlib)
//! in a Python venv that `bench/plot/venv.sh` creates once under `~/.cache/sluice/plot-venv`. A plot that cannot be drawn
//! fails the run with the scripts' own explanation: a benchmark that silently lacks its plots would look
//! complete when it is not (`--no-plots` skips them on purpose).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sluice_testbed::TestBedError;

fn plot_dir() -> PathBuf {
    sluice_testbed::cache::repo_root()
        .join("bench")
        .join("plot")
}

fn plot_err(what: impl std::fmt::Display) -> TestBedError {
    TestBedError::Env(format!("plots: {what}"))
}

/// stdout of a finished command, or an error carrying its stderr.
fn stdout_of(what: &str, out: std::io::Result<Output>) -> Result<String, TestBedError> {
    let out = out.map_err(|e| plot_err(format_args!("running {what}: {e}")))?;
    if !out.status.success() {
        return Err(plot_err(format_args!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Draws `<json stem>.latency-cdf.png` and `<json stem>.throughput.png` next to `json`; returns their paths.
pub fn write_plots(json: &Path) -> Result<Vec<String>, TestBedError> {
    run_script("plot.py", json, 2)
}

/// Draws `<json stem>.soak.png` next to a soak result; returns its path.
pub fn write_soak_plot(json: &Path) -> Result<Vec<String>, TestBedError> {
    run_script("soak.py", json, 1)
}

/// Runs `bench/plot/<script> <json>` in the venv; it prints the path of each plot it drew (`expected`).
fn run_script(script: &str, json: &Path, expected: usize) -> Result<Vec<String>, TestBedError> {
    let dir = plot_dir();
    eprintln!("plots: preparing the matplotlib venv (first time: a pip install)…");
    let venv = dir.join("venv.sh");
    let python = stdout_of(
        &venv.display().to_string(),
        Command::new("bash").arg(&venv).output(),
    )?;
    let python = python
        .lines()
        .last()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| plot_err("venv.sh printed no interpreter path"))?
        .to_string();
    let script = dir.join(script);
    let paths = stdout_of(
        &script.display().to_string(),
        Command::new(&python).arg(&script).arg(json).output(),
    )?;
    let paths: Vec<String> = paths.lines().map(str::to_string).collect();
    for p in &paths {
        if !Path::new(p).is_file() {
            return Err(plot_err(format_args!(
                "{} reported {p}, which is missing",
                script.display()
            )));
        }
    }
    if paths.len() != expected {
        return Err(plot_err(format_args!(
            "expected {expected} plots from {}, got {paths:?}",
            script.display()
        )));
    }
    Ok(paths)
}
