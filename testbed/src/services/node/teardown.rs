//! Leaves the machine as it was before a real node started, from the node directory alone, so it works after
//! a clean stop and after a killed test bed alike (`sluice-testbed stop`).
//!
//! Killing containerd does not stop pods: each container's shim and processes outlive it. So, in order: every
//! process in the kubelet's pod cgroups, the shims serving this node's containerd, every mount under the node
//! directory (the kubelet's volumes, containerd's overlay root filesystems and pod network namespaces, deepest
//! first), the now empty pod cgroups, and last the bridge and nftables tables.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::containerd::ContainerdPaths;

/// The cgroup v1 hierarchy whose `kubepods` tree lists every pod process (all hierarchies hold the same
/// processes; `pids` is mounted on every machine of this kind).
const POD_CGROUPS: &str = "/sys/fs/cgroup/pids/kubepods";

/// Runs the whole teardown. The kubelet and containerd must already be stopped (or killed) by the caller.
pub fn teardown(node_dir: &Path) {
    kill(&pod_processes(Path::new(POD_CGROUPS)));
    kill(&shims_of(&ContainerdPaths::new(node_dir).socket()));
    unmount_under(node_dir);
    remove_empty_cgroups();
    super::network::remove();
}

/// Every PID listed in `cgroup.procs` anywhere under `root`.
fn pod_processes(root: &Path) -> Vec<String> {
    let mut pids = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(text.lines().map(str::to_string));
        }
        dirs.extend(subdirs(&dir));
    }
    pids
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// PIDs of `containerd-shim-runc-v2` processes whose `-address` is `socket`.
fn shims_of(socket: &Path) -> Vec<String> {
    let socket = socket.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_shim = args
                .first()
                .is_some_and(|a| a.ends_with(b"containerd-shim-runc-v2"));
            let ours = args
                .windows(2)
                .any(|w| w[0] == b"-address" && w[1] == socket.as_bytes());
            (is_shim && ours).then(|| pid.to_string())
        })
        .collect()
}

fn kill(pids: &[String]) {
    if pids.is_empty() {
        return;
    }
    // procps `kill` keeps the test bed free of unsafe code; processes that are gone already are fine.
    let _ = Command::new("kill").arg("-9").args(pids).output();
}

/// Mount points under `dir`, from /proc/self/mountinfo (field 5, with the kernel's octal escapes undone).
fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .collect()
}

fn unescape_mount_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lazily unmounts everything under `dir`, deepest first, until nothing is left (a few rounds at most:
/// unmounting a parent may reveal nothing new, but mount propagation can add entries while we go).
fn unmount_under(dir: &Path) {
    for _ in 0..5 {
        let mut mounts = mounts_under(dir);
        if mounts.is_empty() {
            return;
        }
        mounts.sort_by_key(|m| std::cmp::Reverse(m.matches('/').count()));
        for mount in mounts {
            let _ = Command::new("umount").arg("-l").arg(&mount).output();
        }
    }
}

/// Removes the kubelet's pod cgroups (now empty) in every v1 hierarchy, deepest first; non-empty ones stay.
fn remove_empty_cgroups() {
    for hierarchy in subdirs(Path::new("/sys/fs/cgroup")) {
        let root = hierarchy.join("kubepods");
        let mut all = vec![root.clone()];
        let mut i = 0;
        while i < all.len() {
            let next = subdirs(&all[i]);
            all.extend(next);
            i += 1;
        }
        for dir in all.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unescape_mount_path;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mount_path("/a\\040b/c"), "/a b/c");
        assert_eq!(unescape_mount_path("/plain"), "/plain");
        assert_eq!(unescape_mount_path("/x\\"), "/x\\");
    }
}
