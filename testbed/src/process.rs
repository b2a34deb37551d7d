//! A child process owned by the test bed: logs to a file, waited for, killed by PID on drop.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TestBedError;

/// A running service process. Dropping it kills the process (SIGKILL) and reaps it.
#[derive(Debug)]
pub struct ManagedProcess {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl ManagedProcess {
    /// Spawns `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(
        name: &'static str,
        mut cmd: Command,
        log: &Path,
    ) -> Result<ManagedProcess, TestBedError> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(TestBedError::io(format!("opening log {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(TestBedError::io("duplicating a log handle"))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .map_err(TestBedError::io(format!("starting {name}")))?;
        Ok(ManagedProcess {
            name,
            child,
            log: log.to_path_buf(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// Fails if the process has already exited (used while waiting for readiness).
    pub fn check_alive(&mut self) -> Result<(), TestBedError> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(TestBedError::Exited {
                service: self.name,
                status: status.to_string(),
                log: self.log.display().to_string(),
                tail: self.log_tail(40),
            }),
            Ok(None) => Ok(()),
            Err(e) => Err(TestBedError::io(format!("polling {}", self.name))(e)),
        }
    }

    /// Polls `ready` every 100 ms until it returns true, the process dies, or `timeout` passes.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut(&ManagedProcess) -> bool,
    ) -> Result<(), TestBedError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if ready(self) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(TestBedError::NotReady {
                    service: self.name,
                    timeout_s: timeout.as_secs(),
                    log: self.log.display().to_string(),
                    tail: self.log_tail(40),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether `status` is the abort of an armed crash point (`SLUICE_CRASH_AT` calls `abort()`: SIGABRT);
    /// any other exit of a crash-test worker is a crash of its own.
    pub fn is_crash_point_abort(status: std::process::ExitStatus) -> bool {
        use std::os::unix::process::ExitStatusExt;
        status.signal() == Some(libc::SIGABRT)
    }

    /// SIGKILLs a process that must still be running, for crash tests: one that already exited died on
    /// its own (a crash the test did not cause, which must fail it) and is not counted as a kill.
    pub fn kill_live(&mut self) -> Result<(), String> {
        use std::os::unix::process::ExitStatusExt;
        if let Some(status) = self.try_exit() {
            return Err(format!(
                "{} exited on its own ({status}) before it was killed: {}",
                self.name,
                self.log_tail(40)
            ));
        }
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(status) if status.signal() == Some(libc::SIGKILL) => Ok(()),
            // It exited between the check and the signal: still not our kill.
            Ok(status) => Err(format!(
                "{} exited on its own ({status}) as it was killed: {}",
                self.name,
                self.log_tail(40)
            )),
            Err(e) => Err(format!("reaping {}: {e}", self.name)),
        }
    }

    /// Kills the process with SIGKILL and reaps it. Idempotent.
    pub fn kill(&mut self) {
        // The process may already be gone; both calls are then harmless no-ops.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// True once something accepts TCP connections on `addr`.
pub fn accepts_tcp(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// True if the file at `path` contains `needle` (read from the start; logs are small during start-up).
pub fn log_contains(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.contains(needle))
}

/// The last `lines` lines of a text file (at most the last 64 KiB are read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = String::new();
    let _ = f.read_to_string(&mut buf);
    let all: Vec<&str> = buf.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl ManagedProcess {
    /// Non-blocking: the exit status if the process has exited.
    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(s) = self.try_exit() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}
