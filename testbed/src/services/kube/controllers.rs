//! kube-controller-manager and kube-scheduler of the full control plane: what turns a Deployment into pods on
//! the real node, gives each namespace its `default` ServiceAccount and `kube-root-ca.crt` ConfigMap (which
//! every projected token volume needs), keeps EndpointSlices for kube-proxy, and enforces PodDisruptionBudgets
//! during evictions.
//!
//! Each runs under its own client certificate (`system:kube-controller-manager`, `system:kube-scheduler`), so
//! the API server's built-in RBAC roles apply as in a production cluster. There is one replica of each, so
//! leader election is off; their HTTPS endpoints are off too (nothing scrapes them).

use std::path::Path;
use std::process::Command;

use super::certs::PkiFiles;
use super::install::kube_bin;
use super::kubeconfig::write_kubeconfig;
use crate::TestBedError;
use crate::process::ManagedProcess;

/// Starts both, each with a kubeconfig written into `dir`. They need no readiness wait: the controllers retry
/// until the API server answers, and a test waits for what they produce (a Ready pod, a ServiceAccount).
pub fn start(
    dir: &Path,
    server_url: &str,
    pki: &PkiFiles,
) -> Result<Vec<ManagedProcess>, TestBedError> {
    let kcm_kubeconfig = component_kubeconfig(dir, server_url, pki, "controller-manager")?;
    let mut kcm = Command::new(kube_bin("kube-controller-manager"));
    kcm.arg(format!("--kubeconfig={}", kcm_kubeconfig.display()))
        // One service-account identity per controller, as kubeadm configures it, so each is held to its own
        // RBAC role instead of the controller-manager's union of them.
        .arg("--use-service-account-credentials=true")
        .arg(format!("--root-ca-file={}", pki.ca_cert.display()))
        .arg(format!(
            "--service-account-private-key-file={}",
            pki.sa_signing_key.display()
        ))
        .arg("--controllers=*")
        .arg("--leader-elect=false")
        .arg("--secure-port=0")
        .arg("--v=1");
    let kcm = ManagedProcess::spawn(
        "kube-controller-manager",
        kcm,
        &dir.join("kube-controller-manager.log"),
    )?;

    let scheduler_kubeconfig = component_kubeconfig(dir, server_url, pki, "scheduler")?;
    let mut scheduler = Command::new(kube_bin("kube-scheduler"));
    scheduler
        .arg(format!("--kubeconfig={}", scheduler_kubeconfig.display()))
        .arg("--leader-elect=false")
        .arg("--secure-port=0")
        .arg("--v=1");
    let scheduler =
        ManagedProcess::spawn("kube-scheduler", scheduler, &dir.join("kube-scheduler.log"))?;
    Ok(vec![kcm, scheduler])
}

/// `dir/<stem>.kubeconfig` for the client certificate named `stem` (see [`super::certs::CLIENTS`]).
pub fn component_kubeconfig(
    dir: &Path,
    server_url: &str,
    pki: &PkiFiles,
    stem: &str,
) -> Result<std::path::PathBuf, TestBedError> {
    let (cert, key) = pki.client(stem);
    let path = dir.join(format!("{stem}.kubeconfig"));
    write_kubeconfig(&path, server_url, &pki.ca_cert, &cert, &key)?;
    Ok(path)
}
