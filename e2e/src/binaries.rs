//! Locating the workspace's own binaries (`sluice-worker`, `sluice`) for tests that run them as processes.

use std::path::PathBuf;

use crate::TestBedError;

/// `<target>/<profile>/<name>`, found from the running test executable (`<target>/<profile>/deps/<test>`).
/// The README test command builds every binary before running tests.
pub fn binary(name: &str) -> Result<PathBuf, TestBedError> {
    let exe = std::env::current_exe().map_err(TestBedError::io("locating the test executable"))?;
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).ok_or_else(|| {
        TestBedError::Env(format!("unexpected test executable path {}", exe.display()))
    })?;
    let path = profile_dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(TestBedError::Env(format!(
            "{} is missing; build it first with `cargo build --workspace --all-targets`",
            path.display()
        )))
    }
}

/// Sends SIGTERM (a polite stop) to `pid` through the `kill` utility.
pub fn terminate(pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}
