//! The real node's kubelet and kube-proxy.
//!
//! The kubelet registers the Node [`NODE_NAME`] with the bridge's host address, runs pods through the node's
//! containerd, authenticates callers by client certificate (the cluster CA) and authorizes them by webhook,
//! as a kubeadm node does. On this machine it needs `cgroupDriver: cgroupfs` (no systemd) and
//! `failSwapOn: false`. Eviction thresholds are low so that a nearly full disk of a development machine does
//! not evict test pods; a test that wants an eviction asks for one (`kubectl drain`).
//!
//! kube-proxy routes ClusterIPs (the operator's in-cluster client reaches the API server at the `kubernetes`
//! Service) in nftables mode; its tables are removed at teardown.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::TestBedError;
use crate::ports::free_port;
use crate::process::{ManagedProcess, accepts_tcp};
use crate::services::kube::install::kube_bin;

/// The node's name (its client certificate is issued to `system:node:<NODE_NAME>`).
pub const NODE_NAME: &str = "sluice-node";
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The KubeletConfiguration: everything a kubeadm node sets that matters here.
pub fn kubelet_config(
    host: IpAddr,
    port: u16,
    client_ca: &Path,
    containerd_socket: &Path,
) -> String {
    let q = |p: &Path| serde_json::Value::String(p.display().to_string()).to_string();
    format!(
        "apiVersion: kubelet.config.k8s.io/v1beta1\n\
         kind: KubeletConfiguration\n\
         address: {host}\n\
         port: {port}\n\
         readOnlyPort: 0\n\
         healthzPort: 0\n\
         authentication:\n\
         \x20 anonymous: {{enabled: false}}\n\
         \x20 webhook: {{enabled: true}}\n\
         \x20 x509: {{clientCAFile: {ca}}}\n\
         authorization: {{mode: Webhook}}\n\
         cgroupDriver: cgroupfs\n\
         failSwapOn: false\n\
         containerRuntimeEndpoint: {socket}\n\
         clusterDomain: cluster.local\n\
         resolvConf: \"\"\n\
         serializeImagePulls: false\n\
         evictionHard: {{memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}}\n\
         imageGCHighThresholdPercent: 99\n\
         imageGCLowThresholdPercent: 98\n\
         nodeStatusUpdateFrequency: 5s\n",
        ca = q(client_ca),
        socket = serde_json::Value::String(format!("unix://{}", containerd_socket.display())),
    )
}

/// What the kubelet is started with; kept so that a test can restart it as a node's init system would.
#[derive(Debug, Clone)]
pub struct KubeletSetup {
    /// Its configuration, kubeconfig, logs and root directory are here.
    pub dir: PathBuf,
    pub host: IpAddr,
    pub kubeconfig: PathBuf,
    pub client_ca: PathBuf,
    pub containerd_socket: PathBuf,
}

/// Starts the kubelet with its configuration and kubeconfig in `setup.dir` and its root directory under it.
/// A restart with the same setup finds its pods (their containers live on under containerd) and adopts them.
pub fn start_kubelet(setup: &KubeletSetup) -> Result<ManagedProcess, TestBedError> {
    let dir = &setup.dir;
    let config = dir.join("kubelet.yaml");
    let port = crate::ports::free_port_on(setup.host)?;
    let yaml = kubelet_config(setup.host, port, &setup.client_ca, &setup.containerd_socket);
    std::fs::write(&config, yaml)
        .map_err(TestBedError::io(format!("writing {}", config.display())))?;
    let mut cmd = Command::new(kube_bin("kubelet"));
    cmd.arg(format!("--config={}", config.display()))
        .arg(format!("--kubeconfig={}", setup.kubeconfig.display()))
        .arg(format!("--root-dir={}", dir.join("kubelet").display()))
        .arg(format!("--hostname-override={NODE_NAME}"))
        .arg(format!("--node-ip={}", setup.host))
        .arg("--v=1");
    ManagedProcess::spawn("kubelet", cmd, &dir.join("kubelet.log"))
}

/// Waits until the Node reports Ready, as `kubectl` (the admin) sees it.
pub fn wait_ready(kubelet: &mut ManagedProcess, kubectl: &Command) -> Result<(), TestBedError> {
    wait_ready_after(kubelet, kubectl, None)
}

/// Waits until the Node reports Ready with a heartbeat other than `previous` (`None`: any), i.e. until the
/// kubelet just started has reported the node's status itself rather than the API server still showing its
/// predecessor's.
pub fn wait_ready_after(
    kubelet: &mut ManagedProcess,
    kubectl: &Command,
    previous: Option<&str>,
) -> Result<(), TestBedError> {
    kubelet.wait_until(READY_TIMEOUT, |_| {
        ready_heartbeat(kubectl).is_some_and(|beat| previous != Some(beat.as_str()))
    })
}

/// The `lastHeartbeatTime` of the Node's Ready condition when that condition is True.
pub fn ready_heartbeat(kubectl: &Command) -> Option<String> {
    let mut cmd = Command::new(kubectl.get_program());
    let ready = "{.status.conditions[?(@.type==\"Ready\")]";
    let path = format!("jsonpath={ready}.status}} {ready}.lastHeartbeatTime}}");
    cmd.args(kubectl.get_args())
        .args(["get", "node", NODE_NAME, "-o", &path]);
    let out = cmd.output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, beat) = text.split_once(' ')?;
    (status == "True").then(|| beat.to_string())
}

/// Starts kube-proxy (nftables mode) and waits until its health endpoint answers, i.e. it has synced the
/// Services once.
pub fn start_proxy(dir: &Path, kubeconfig: &Path) -> Result<ManagedProcess, TestBedError> {
    let healthz = free_port()?;
    let mut cmd = Command::new(kube_bin("kube-proxy"));
    cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg("--proxy-mode=nftables")
        .arg(format!("--cluster-cidr={}", super::network::POD_CIDR))
        .arg(format!("--hostname-override={NODE_NAME}"))
        .arg(format!("--healthz-bind-address=127.0.0.1:{healthz}"))
        .arg(format!("--metrics-bind-address=127.0.0.1:{}", free_port()?))
        // A pod that reaches another pod on the same bridge through a Service would get the reply straight from
        // the bridge, bypassing the DNAT's conntrack entry; masquerading makes replies come back through the host.
        .arg("--masquerade-all")
        // The VM's conntrack table size is not ours to change.
        .arg("--conntrack-max-per-core=0")
        .arg("--v=1");
    let mut process = ManagedProcess::spawn("kube-proxy", cmd, &dir.join("kube-proxy.log"))?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], healthz));
    process.wait_until(READY_TIMEOUT, |_| accepts_tcp(addr))?;
    Ok(process)
}

#[cfg(test)]
mod tests {
    use super::kubelet_config;
    use std::path::Path;

    #[test]
    fn kubelet_config_is_yaml_with_the_settings_this_machine_needs() {
        let text = kubelet_config(
            "10.213.0.1".parse().unwrap(),
            10250,
            Path::new("/p/ca.crt"),
            Path::new("/n/c.sock"),
        );
        let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(doc["cgroupDriver"], "cgroupfs");
        assert_eq!(doc["failSwapOn"], false);
        assert_eq!(doc["containerRuntimeEndpoint"], "unix:///n/c.sock");
        assert_eq!(doc["authentication"]["x509"]["clientCAFile"], "/p/ca.crt");
        assert_eq!(doc["address"], "10.213.0.1");
    }
}
