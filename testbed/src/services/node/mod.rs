//! A real Kubernetes node on this machine: containerd + runc with a CNI bridge, the kubelet and kube-proxy,
//! joined to a full control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), with a local
//! OCI registry the kubelet pulls every image from, the sandbox (`pause`) image included. Everything is built
//! here (see [`crate::services::kube::install`], [`registry`]) and lives under one directory.
//!
//! - [`network`]: the bridge, the CNI configuration and the guard that keeps traffic on the machine;
//! - [`registry`]: the OCI registry; [`images`]: the images pushed to it;
//! - [`containerd`]: the container runtime; [`kubelet`]: the kubelet and kube-proxy;
//! - [`teardown`]: stopping pods and undoing mounts, cgroups and network, also after a killed run.
//!
//! Needs root, and `containerd`, `runc`, `containernetworking-plugins`, `umoci`, `skopeo` and `nftables` from
//! Debian (`scripts/prereqs.sh node`). One node runs per machine at a time ([`network::NodeLock`]).

pub mod containerd;
pub mod images;
pub mod kubelet;
pub mod network;
pub mod registry;
pub mod teardown;

use std::path::{Path, PathBuf};

use crate::TestBedError;
use crate::process::ManagedProcess;
use crate::services::kube::controllers::component_kubeconfig;
use crate::services::kube::{ControlPlaneOptions, KubeCluster};
use containerd::ContainerdPaths;
use kubelet::KubeletSetup;
use network::{HOST_IP, NodeLock};
use registry::Registry;

/// Where node directories live. Unix socket paths are limited to 107 bytes, and containerd and the kubelet
/// put sockets several levels deep under their directories (`kubelet/device-plugins/kubelet.sock`), so the
/// node cannot live under a long `$HOME` (a fresh-machine check's HOME made them 106–109 bytes).
pub const NODE_ROOT: &str = "/var/tmp/sluice-node";
/// The deepest socket under a node directory.
const DEEPEST_SOCKET: &str = "kubelet/device-plugins/kubelet.sock";
const MAX_SOCKET_PATH: usize = 107;

/// A full control plane plus one real node. Dropping it stops the pods, the node and the control plane, and
/// removes the bridge.
#[derive(Debug)]
pub struct RealCluster {
    node: Option<NodeProcesses>,
    registry: Option<Registry>,
    /// The sandbox image's reference (also an image that idles: a sidecar for tests).
    pause: String,
    cluster: KubeCluster,
    dir: PathBuf,
    node_dir: PathBuf,
    remove_dir_on_drop: bool,
    _lock: NodeLock,
}

/// The node's long-running processes; dropping it kills them in order and tears the node down.
#[derive(Debug)]
struct NodeProcesses {
    dir: PathBuf,
    kubelet: Option<ManagedProcess>,
    kubelet_setup: Option<KubeletSetup>,
    proxy: Option<ManagedProcess>,
    containerd: Option<ManagedProcess>,
}

impl Drop for NodeProcesses {
    fn drop(&mut self) {
        // The kubelet first, so it restarts nothing while the pods are killed.
        for process in [&mut self.kubelet, &mut self.proxy, &mut self.containerd] {
            if let Some(mut p) = process.take() {
                p.kill();
            }
        }
        teardown::teardown(&self.dir);
    }
}

impl RealCluster {
    /// Creates the bridge, starts the control plane on its host address, the registry (with the sandbox image
    /// pushed), containerd, kube-proxy and the kubelet, and waits until the Node is Ready.
    pub fn start(dir: &Path) -> Result<RealCluster, TestBedError> {
        let node_dir = short_node_dir(dir)?;
        let lock = NodeLock::acquire(&node_dir)?;
        std::fs::create_dir_all(&node_dir)
            .map_err(TestBedError::io(format!("creating {}", node_dir.display())))?;
        std::fs::create_dir_all(dir)
            .map_err(TestBedError::io(format!("creating {}", dir.display())))?;
        // `dir/node` leads to the node's logs from the run directory.
        let link = dir.join("node");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&node_dir, &link)
            .map_err(TestBedError::io(format!("linking {}", link.display())))?;
        // A previous node that was killed may have left pods, shims, mounts or the bridge behind.
        if let Some(previous) = lock.previous_node_dir() {
            teardown::teardown(previous);
        }
        teardown::teardown(&node_dir);
        network::create(&node_dir)?;
        let mut node = NodeProcesses {
            dir: node_dir.clone(),
            kubelet: None,
            kubelet_setup: None,
            proxy: None,
            containerd: None,
        };
        let cluster =
            KubeCluster::start_with(&dir.join("kube"), ControlPlaneOptions::full(HOST_IP))?;
        let registry = Registry::start(&dir.join("registry"), HOST_IP)?;
        let pause = images::push_pause(&node_dir, &registry)?;
        let pki = cluster
            .pki()
            .ok_or_else(|| TestBedError::Env("the control plane has no PKI".into()))?
            .clone();
        let paths = ContainerdPaths::new(&node_dir);
        node.containerd = Some(containerd::start(&paths, &pause, &registry.host())?);
        let server = cluster.server_url().to_string();
        let proxy_kubeconfig = component_kubeconfig(&node_dir, &server, &pki, "kube-proxy")?;
        node.proxy = Some(kubelet::start_proxy(&node_dir, &proxy_kubeconfig)?);
        let setup = KubeletSetup {
            dir: node_dir.clone(),
            host: HOST_IP,
            kubeconfig: component_kubeconfig(&node_dir, &server, &pki, "kubelet")?,
            client_ca: pki.ca_cert.clone(),
            containerd_socket: paths.socket(),
        };
        let mut kubelet = kubelet::start_kubelet(&setup)?;
        kubelet::wait_ready(&mut kubelet, &cluster.kubectl())?;
        node.kubelet = Some(kubelet);
        node.kubelet_setup = Some(setup);
        tracing::info!(server = %server, registry = %registry.host(), "real node ready");
        Ok(RealCluster {
            node: Some(node),
            registry: Some(registry),
            pause,
            cluster,
            dir: dir.to_path_buf(),
            node_dir,
            remove_dir_on_drop: true,
            _lock: lock,
        })
    }

    /// The control plane (kubeconfig, kubectl, clients).
    pub fn cluster(&self) -> &KubeCluster {
        &self.cluster
    }

    /// `host:port` of the registry the kubelet pulls from.
    pub fn registry_host(&self) -> String {
        self.registry
            .as_ref()
            .map(Registry::host)
            .unwrap_or_default()
    }

    /// The pause image's reference in the registry: it does nothing until stopped.
    pub fn pause_image(&self) -> &str {
        &self.pause
    }

    /// The registry, for pushing images.
    pub fn registry(&self) -> Option<&Registry> {
        self.registry.as_ref()
    }

    /// Where the node's logs are: containerd.log, kubelet.log, kube-proxy.log.
    pub fn node_dir(&self) -> PathBuf {
        self.node_dir.clone()
    }

    /// Keeps the directory (logs, certificates) when this handle is dropped.
    pub fn keep_dir(mut self) -> Self {
        self.remove_dir_on_drop = false;
        self
    }

    /// Kills the kubelet (SIGKILL, as a crash or an OOM kill of the node agent would) and starts it again
    /// with the same configuration, as systemd would; returns once the Node is Ready again. The pods keep
    /// running meanwhile: their containers belong to containerd, not to the kubelet.
    pub fn restart_kubelet(&mut self) -> Result<(), TestBedError> {
        let node = self
            .node
            .as_mut()
            .ok_or_else(|| TestBedError::Env("the node is stopped".into()))?;
        let setup = node
            .kubelet_setup
            .clone()
            .ok_or_else(|| TestBedError::Env("the kubelet never started".into()))?;
        let kubectl = self.cluster.kubectl();
        let before = kubelet::ready_heartbeat(&kubectl);
        if let Some(mut old) = node.kubelet.take() {
            old.kill();
        }
        let mut kubelet = kubelet::start_kubelet(&setup)?;
        kubelet::wait_ready_after(&mut kubelet, &kubectl, before.as_deref())?;
        node.kubelet = Some(kubelet);
        Ok(())
    }

    /// PIDs of every process of the node and the control plane.
    pub fn pids(&self) -> Vec<u32> {
        let node = self
            .node
            .iter()
            .flat_map(|n| [&n.kubelet, &n.proxy, &n.containerd]);
        node.flatten()
            .map(ManagedProcess::pid)
            .chain(self.registry.iter().map(Registry::pid))
            .chain(self.cluster.pids())
            .collect()
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        // The pods and the node first (their teardown unmounts everything under the directory), then the
        // registry and the control plane; only then is the directory free to remove.
        drop(self.node.take());
        drop(self.registry.take());
        self.cluster.stop();
        if self.remove_dir_on_drop {
            let _ = std::fs::remove_dir_all(&self.node_dir);
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `NODE_ROOT/<name of dir>`, checked to keep every socket path under the limit.
fn short_node_dir(dir: &Path) -> Result<PathBuf, TestBedError> {
    let name = dir
        .file_name()
        .ok_or_else(|| TestBedError::Env(format!("{} has no name", dir.display())))?;
    let node_dir = Path::new(NODE_ROOT).join(name);
    let deepest = node_dir.join(DEEPEST_SOCKET);
    let length = deepest.as_os_str().len();
    if length > MAX_SOCKET_PATH {
        return Err(TestBedError::Env(format!(
            "{} is {length} bytes, more than a unix socket path may have ({MAX_SOCKET_PATH}); use a shorter \
             run directory name",
            deepest.display()
        )));
    }
    Ok(node_dir)
}

#[cfg(test)]
mod tests {
    use super::{DEEPEST_SOCKET, MAX_SOCKET_PATH, NODE_ROOT, short_node_dir};
    use std::path::Path;

    #[test]
    fn a_node_under_a_long_home_keeps_its_sockets_within_the_limit() {
        let run = Path::new("/var/tmp/sluice-fresh-3/home/.cache/sluice/run/node-17147-0-3249cf66");
        assert!(run.join("node").join(DEEPEST_SOCKET).as_os_str().len() > MAX_SOCKET_PATH);
        let node = short_node_dir(run).unwrap();
        assert_eq!(node, Path::new(NODE_ROOT).join("node-17147-0-3249cf66"));
        assert!(node.join(DEEPEST_SOCKET).as_os_str().len() <= MAX_SOCKET_PATH);
        let long = Path::new("/r").join("n".repeat(80));
        let err = short_node_dir(&long).unwrap_err().to_string();
        assert!(err.contains("unix socket path"), "{err}");
    }
}
