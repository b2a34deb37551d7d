//! Kubernetes' termination message: what a container leaves in `/dev/termination-log` becomes its
//! `lastState.terminated.message`. Written directly, it does not depend on the last log lines reaching the
//! node's log file before the kubelet reads them (`FallbackToLogsOnError` races a process that dies abruptly).

use std::path::Path;

/// The file the kubelet mounts into every container (unless a pod sets another `terminationMessagePath`).
pub const PATH: &str = "/dev/termination-log";

/// The kubelet keeps at most 4 KiB of the message.
const MAX_CHARS: usize = 4000;

/// Leaves `message` where Kubernetes reads it. Outside a pod (no such file) nothing is written: `Ok(false)`.
pub fn write(message: &str) -> std::io::Result<bool> {
    let path = Path::new(PATH);
    if !path.exists() {
        return Ok(false);
    }
    let cut: String = message.chars().take(MAX_CHARS).collect();
    std::fs::write(path, cut)?;
    Ok(true)
}
