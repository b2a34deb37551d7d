//! containerd (Debian's 1.6, with its CRI plugin) as the real node's container runtime, private to one node
//! directory: its own root, state, socket, CNI configuration and registry hosts, so it never touches a
//! system containerd or `/var/lib/containerd`.
//!
//! Settings that this machine needs (see docs/testing.md, "The real node"):
//! - `restrict_oom_score_adj = true`: the VMs lack CAP_SYS_RESOURCE, and without it every sandbox fails with
//!   "write to /proc/self/oom_score_adj: Permission denied";
//! - runc with cgroupfs (`SystemdCgroup = false`): there is no systemd, and cgroups are v1 with a unified
//!   hierarchy beside them, which runc handles and crun refuses;
//! - `netns_mounts_under_state_dir`: pod network namespaces live under the node directory, so a teardown
//!   after a killed run finds every one of them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::network::cni_config;
use super::registry::hosts_toml;
use crate::TestBedError;
use crate::process::ManagedProcess;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where one node's containerd keeps everything.
#[derive(Debug, Clone)]
pub struct ContainerdPaths {
    pub dir: PathBuf,
}

impl ContainerdPaths {
    pub fn new(node_dir: &Path) -> ContainerdPaths {
        ContainerdPaths {
            dir: node_dir.join("containerd"),
        }
    }

    /// The CRI socket the kubelet connects to.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    fn cni_conf_dir(&self) -> PathBuf {
        self.dir.join("net.d")
    }

    fn registry_hosts_dir(&self) -> PathBuf {
        self.dir.join("certs.d")
    }
}

/// The configuration file: version 2 (containerd 1.6), everything under `paths.dir`.
pub fn config_toml(paths: &ContainerdPaths, sandbox_image: &str) -> String {
    let q = |p: PathBuf| serde_json::Value::String(p.display().to_string()).to_string();
    let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
    format!(
        "version = 2\n\
         root = {root}\n\
         state = {state}\n\
         # Snapshotters and tracing this node does not use; they would only log load errors.\n\
         disabled_plugins = [\"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", \
         \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.snapshotter.v1.devmapper\", \
         \"io.containerd.tracing.processor.v1.otlp\", \"io.containerd.internal.v1.tracing\"]\n\
         [grpc]\n  address = {socket}\n\
         [ttrpc]\n  address = {ttrpc}\n\
         [metrics]\n  address = \"\"\n\
         [plugins.\"io.containerd.internal.v1.opt\"]\n  path = {opt}\n\
         [{cri}]\n\
         \x20 sandbox_image = \"{sandbox_image}\"\n\
         \x20 restrict_oom_score_adj = true\n\
         \x20 netns_mounts_under_state_dir = true\n\
         \x20 stream_server_address = \"127.0.0.1\"\n\
         \x20 stream_server_port = \"0\"\n\
         [{cri}.containerd]\n\
         \x20 snapshotter = \"overlayfs\"\n\
         \x20 default_runtime_name = \"runc\"\n\
         [{cri}.containerd.runtimes.runc]\n\
         \x20 runtime_type = \"io.containerd.runc.v2\"\n\
         [{cri}.containerd.runtimes.runc.options]\n\
         \x20 SystemdCgroup = false\n\
         [{cri}.cni]\n\
         \x20 bin_dir = \"/usr/lib/cni\"\n\
         \x20 conf_dir = {cni}\n\
         [{cri}.registry]\n\
         \x20 config_path = {hosts}\n",
        root = q(paths.dir.join("root")),
        state = q(paths.dir.join("state")),
        socket = q(paths.socket()),
        ttrpc = q(paths.dir.join("containerd.sock.ttrpc")),
        opt = q(paths.dir.join("opt")),
        cni = q(paths.cni_conf_dir()),
        hosts = q(paths.registry_hosts_dir()),
    )
}

/// Writes the configuration, the CNI network and the registry's hosts file, starts containerd and waits until
/// its API answers.
pub fn start(
    paths: &ContainerdPaths,
    sandbox_image: &str,
    registry_host: &str,
) -> Result<ManagedProcess, TestBedError> {
    let write = |path: PathBuf, text: String| -> Result<(), TestBedError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(TestBedError::io(format!("creating {}", parent.display())))?;
        }
        std::fs::write(&path, text).map_err(TestBedError::io(format!("writing {}", path.display())))
    };
    write(paths.config(), config_toml(paths, sandbox_image))?;
    write(
        paths.cni_conf_dir().join("10-sluice.conflist"),
        cni_config(&paths.dir.join("cni-ipam")),
    )?;
    write(
        paths
            .registry_hosts_dir()
            .join(registry_host)
            .join("hosts.toml"),
        hosts_toml(registry_host),
    )?;
    let mut cmd = Command::new("containerd");
    cmd.arg("--config").arg(paths.config());
    let mut process = ManagedProcess::spawn("containerd", cmd, &paths.dir.join("containerd.log"))?;
    let socket = paths.socket();
    process.wait_until(START_TIMEOUT, |_| answers(&socket))?;
    Ok(process)
}

/// True once `ctr version` gets the server's version over `socket`.
fn answers(socket: &Path) -> bool {
    Command::new("ctr")
        .arg("--address")
        .arg(socket)
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[cfg(test)]
mod tests {
    use super::{ContainerdPaths, config_toml};
    use std::path::Path;

    #[test]
    fn config_keeps_everything_under_the_node_dir_and_restricts_oom_score_adj() {
        let paths = ContainerdPaths::new(Path::new("/n"));
        let toml = config_toml(&paths, "10.213.0.1:5000/p:1");
        assert!(toml.contains("root = \"/n/containerd/root\""));
        assert!(toml.contains("address = \"/n/containerd/containerd.sock\""));
        assert!(toml.contains("restrict_oom_score_adj = true"));
        assert!(toml.contains("SystemdCgroup = false"));
        assert!(toml.contains("sandbox_image = \"10.213.0.1:5000/p:1\""));
        assert!(toml.contains("config_path = \"/n/containerd/certs.d\""));
    }
}
