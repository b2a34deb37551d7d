//! Locating the workspace's own binaries (`sluice-worker`, `sluice`) for tests that run them as processes.

use std::path::PathBuf;

use crate::TestBedError;

/// Names a directory to take the binaries from instead of the test's own profile, e.g. `<target>/release` to
/// crash-test release workers from a debug test build.
pub const BIN_DIR_ENV: &str = "SLUICE_BIN_DIR";

/// `<target>/<profile>/<name>`, found from the running test executable (`<target>/<profile>/deps/<test>`),
/// or `$SLUICE_BIN_DIR/<name>`. The README test command builds every binary before running tests.
pub fn binary(name: &str) -> Result<PathBuf, TestBedError> {
    let path = binary_dir()?.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(TestBedError::Env(format!(
            "{} is missing; build it first with `cargo build --workspace --all-targets`",
            path.display()
        )))
    }
}

/// The directory [`binary`] takes binaries from.
pub fn binary_dir() -> Result<PathBuf, TestBedError> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().map_err(TestBedError::io("locating the test executable"))?;
    // A workspace binary such as `sluice-bench` sits next to the others (target/<profile>/); a test
    // executable one level below them (target/<profile>/deps/, where the binaries' names do not occur).
    if let Some(dir) = exe.parent().filter(|d| d.join("sluice-worker").is_file()) {
        return Ok(dir.to_path_buf());
    }
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .ok_or_else(|| {
            TestBedError::Env(format!("unexpected test executable path {}", exe.display()))
        })
}

/// Sends `sig` (`-TERM`, `-KILL`, `-STOP`, `-CONT`, …) to `pid` through the `kill` utility (the workspace
/// forbids `unsafe`); false when it could not be delivered (e.g. a stale pid).
pub fn signal(pid: u32, sig: &str) -> bool {
    std::process::Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success())
}

/// Sends SIGTERM (a polite stop) to `pid`.
pub fn terminate(pid: u32) {
    signal(pid, "-TERM");
}

/// Runs the `sluice` CLI with the test bed's S3 credentials and returns its stdout; a non-zero exit is an
/// error carrying stdout and stderr.
pub fn sluice_cli<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(
    args: &[S],
) -> Result<String, String> {
    let out = std::process::Command::new(binary("sluice").map_err(|e| e.to_string())?)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", crate::testbed::S3_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", crate::testbed::S3_SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .map_err(|e| format!("running sluice: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "sluice {args:?} exited with {}: {stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
