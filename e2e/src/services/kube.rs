//! A real, single-node Kubernetes control plane on loopback: etcd plus kube-apiserver, built from source by
//! [`install::ensure_kube`] (there is no Docker or kind here). There is no scheduler, controller-manager or
//! kubelet; the test bed's node agent (`sluice-node-agent`) stands in for the kubelet where a test needs pods.
//!
//! The API server authenticates with client certificates (the admin user is in `system:masters`) and
//! service-account tokens, authorizes with Node + RBAC, and stores everything in a private etcd whose data
//! directory lives under the cluster directory. Start-up settings that matter without a network:
//! - `--advertise-address=127.0.0.1` so the server never looks for a routable interface;
//! - `--endpoint-reconciler-type=none` because the `kubernetes` Service's endpoints would be a loopback
//!   address, which Endpoints validation rejects (and nothing in the test bed routes to it);
//! - the `ServiceAccount` admission plugin is disabled: it rejects pods until a controller-manager has created
//!   each namespace's `default` ServiceAccount, and it would inject projected token volumes that no kubelet
//!   serves. Tests that need a ServiceAccount create it and request its token with the TokenRequest API.

pub mod certs;
pub mod install;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::TestBedError;
use crate::ports::free_port;
use crate::process::ManagedProcess;
use certs::PkiFiles;
use install::{ensure_kube, kube_bin};

/// Environment variable naming the kubeconfig of the shared cluster started by `sluice-testbed serve`.
pub const ENV_KUBECONFIG: &str = "SLUICE_KUBECONFIG";
/// The ClusterIP range. Only allocated from, never routed (there is no kube-proxy).
pub const SERVICE_CIDR: &str = "10.96.0.0/24";
/// The service-account token issuer (and default audience).
pub const SA_ISSUER: &str = "https://kubernetes.default.svc";

const ETCD_TIMEOUT: Duration = Duration::from_secs(30);
/// The API server bootstraps RBAC roles, priority levels and CRD machinery before `/readyz` passes; on a busy
/// 2-core machine that takes a while.
const APISERVER_TIMEOUT: Duration = Duration::from_secs(120);

/// A running control plane, or (from [`KubeCluster::from_env_or_start`]) a handle to the shared one.
#[derive(Debug)]
pub struct KubeCluster {
    dir: PathBuf,
    server_url: String,
    kubeconfig: PathBuf,
    apiserver: Option<ManagedProcess>,
    etcd: Option<ManagedProcess>,
    remove_dir_on_drop: bool,
}

impl KubeCluster {
    /// The shared cluster named by `$SLUICE_KUBECONFIG`, else a private one under `dir`.
    pub fn from_env_or_start(dir: &Path) -> Result<KubeCluster, TestBedError> {
        let Some(kubeconfig) = std::env::var_os(ENV_KUBECONFIG) else {
            return KubeCluster::start(dir);
        };
        let kubeconfig = PathBuf::from(kubeconfig);
        let server_url = server_of(&kubeconfig)?;
        Ok(KubeCluster {
            dir: kubeconfig
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            server_url,
            kubeconfig,
            apiserver: None,
            etcd: None,
            remove_dir_on_drop: false,
        })
    }

    /// Builds the binaries if needed, generates certificates, starts etcd and kube-apiserver on free loopback
    /// ports, writes `dir/kubeconfig` and waits until `/readyz` passes.
    pub fn start(dir: &Path) -> Result<KubeCluster, TestBedError> {
        ensure_kube()?;
        std::fs::create_dir_all(dir)
            .map_err(TestBedError::io(format!("creating {}", dir.display())))?;
        let pki = certs::generate(&dir.join("pki"))?;
        let etcd_port = free_port()?;
        let etcd = start_etcd(dir, etcd_port)?;
        let port = free_port()?;
        let server_url = format!("https://127.0.0.1:{port}");
        let kubeconfig = dir.join("kubeconfig");
        write_admin_kubeconfig(&kubeconfig, &server_url, &pki)?;
        let mut cluster = KubeCluster {
            dir: dir.to_path_buf(),
            server_url,
            kubeconfig,
            apiserver: None,
            etcd: Some(etcd),
            remove_dir_on_drop: true,
        };
        let mut apiserver = start_apiserver(dir, port, etcd_port, &pki)?;
        let probe = cluster.kubectl();
        apiserver.wait_until(APISERVER_TIMEOUT, |_| readyz(&probe))?;
        cluster.apiserver = Some(apiserver);
        tracing::info!(server = %cluster.server_url, kubeconfig = %cluster.kubeconfig.display(), "kube-apiserver ready");
        Ok(cluster)
    }

    /// Keeps the cluster directory (certificates, etcd data, logs) when this handle is dropped.
    pub fn keep_dir(mut self) -> Self {
        self.remove_dir_on_drop = false;
        self
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The admin kubeconfig (user `sluice-admin`, group `system:masters`), for kube-rs and kubectl alike.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn apiserver_log(&self) -> PathBuf {
        self.dir.join("kube-apiserver.log")
    }

    pub fn etcd_log(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }

    /// PIDs of the processes this handle owns (none for a shared cluster).
    pub fn pids(&self) -> Vec<u32> {
        [&self.apiserver, &self.etcd]
            .into_iter()
            .flatten()
            .map(ManagedProcess::pid)
            .collect()
    }

    /// A kube-rs client authenticated as the admin.
    pub async fn client(&self) -> Result<::kube::Client, TestBedError> {
        let kubeconfig = ::kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .map_err(kube_error("reading the kubeconfig"))?;
        client_from(kubeconfig).await
    }

    /// A kube-rs client that authenticates with a bearer `token` (e.g. from a TokenRequest) instead of the admin
    /// certificate; it trusts the same CA.
    pub async fn client_with_token(&self, token: &str) -> Result<::kube::Client, TestBedError> {
        let admin = ::kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .map_err(kube_error("reading the kubeconfig"))?;
        let ca = admin
            .clusters
            .first()
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.certificate_authority.clone())
            .ok_or_else(|| TestBedError::Env("the kubeconfig names no CA file".into()))?;
        let yaml = token_kubeconfig(&self.server_url, Path::new(&ca), token);
        let kubeconfig = ::kube::config::Kubeconfig::from_yaml(&yaml)
            .map_err(kube_error("parsing a token kubeconfig"))?;
        client_from(kubeconfig).await
    }

    /// `kubectl --kubeconfig <admin kubeconfig>`, ready for more arguments.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(kube_bin("kubectl"));
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd
    }

    /// Kills kube-apiserver, then etcd. A shared cluster is left alone.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.apiserver.take() {
            p.kill();
        }
        if let Some(mut p) = self.etcd.take() {
            p.kill();
        }
    }
}

impl Drop for KubeCluster {
    fn drop(&mut self) {
        self.stop();
        if self.remove_dir_on_drop {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn kube_error<E>(action: &'static str) -> impl FnOnce(E) -> TestBedError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| TestBedError::Kube {
        action: action.into(),
        source: Box::new(e),
    }
}

async fn client_from(
    kubeconfig: ::kube::config::Kubeconfig,
) -> Result<::kube::Client, TestBedError> {
    // rustls cannot choose a process-wide provider when both ring and aws-lc-rs are compiled in (the AWS SDK
    // brings the latter). Installing one fails harmlessly if some other code installed one first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = ::kube::config::KubeConfigOptions::default();
    let config = ::kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(kube_error("loading the kubeconfig"))?;
    ::kube::Client::try_from(config).map_err(kube_error("building a client"))
}

fn start_etcd(dir: &Path, port: u16) -> Result<ManagedProcess, TestBedError> {
    let peer_port = free_port()?;
    let client_url = format!("http://127.0.0.1:{port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let mut cmd = Command::new(kube_bin("etcd"));
    cmd.arg("--name")
        .arg("sluice-test")
        .arg("--data-dir")
        .arg(dir.join("etcd-data"))
        .arg("--listen-client-urls")
        .arg(&client_url)
        .arg("--advertise-client-urls")
        .arg(&client_url)
        .arg("--listen-peer-urls")
        .arg(&peer_url)
        .arg("--initial-advertise-peer-urls")
        .arg(&peer_url)
        .arg("--initial-cluster")
        .arg(format!("sluice-test={peer_url}"))
        // A test cluster's data is disposable; skipping fsync keeps a busy disk from stalling the API server.
        .arg("--unsafe-no-fsync")
        .arg("--log-level")
        .arg("warn");
    let mut etcd = ManagedProcess::spawn("etcd", cmd, &dir.join("etcd.log"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    etcd.wait_until(ETCD_TIMEOUT, |_| {
        http_get(addr, "/health").is_some_and(|body| body.contains("\"health\":\"true\""))
    })?;
    Ok(etcd)
}

fn start_apiserver(
    dir: &Path,
    port: u16,
    etcd_port: u16,
    pki: &PkiFiles,
) -> Result<ManagedProcess, TestBedError> {
    let mut cmd = Command::new(kube_bin("kube-apiserver"));
    cmd.arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--advertise-address=127.0.0.1")
        .arg(format!("--secure-port={port}"))
        .arg(format!("--cert-dir={}", dir.join("pki").display()))
        .arg(format!("--tls-cert-file={}", pki.server_cert.display()))
        .arg(format!(
            "--tls-private-key-file={}",
            pki.server_key.display()
        ))
        .arg(format!("--client-ca-file={}", pki.ca_cert.display()))
        .arg(format!(
            "--service-account-key-file={}",
            pki.sa_public_key.display()
        ))
        .arg(format!(
            "--service-account-signing-key-file={}",
            pki.sa_signing_key.display()
        ))
        .arg(format!("--service-account-issuer={SA_ISSUER}"))
        .arg(format!("--service-cluster-ip-range={SERVICE_CIDR}"))
        .arg("--authorization-mode=Node,RBAC")
        .arg("--endpoint-reconciler-type=none")
        .arg("--disable-admission-plugins=ServiceAccount")
        .arg("--allow-privileged=true")
        .arg("--profiling=false")
        .arg("--v=1");
    ManagedProcess::spawn("kube-apiserver", cmd, &dir.join("kube-apiserver.log"))
}

/// True once `kubectl get --raw /readyz` (as the admin) succeeds: every readiness check of the server passed.
fn readyz(kubectl: &Command) -> bool {
    let mut cmd = Command::new(kubectl.get_program());
    cmd.args(kubectl.get_args())
        .arg("--request-timeout=5s")
        .arg("get")
        .arg("--raw=/readyz");
    cmd.output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "ok")
}

/// A plain HTTP/1.0 GET on loopback; the body if the status is 200. Enough for etcd's `/health`.
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_string()))
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quoted(path: &Path) -> String {
    serde_json::Value::String(path.display().to_string()).to_string()
}

fn write_admin_kubeconfig(
    path: &Path,
    server_url: &str,
    pki: &PkiFiles,
) -> Result<(), TestBedError> {
    // File references rather than inline data: the PEM files sit beside the kubeconfig for the cluster's life.
    let yaml = format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: sluice-test\n  \
           cluster:\n    \
             server: {server_url}\n    \
             certificate-authority: {ca}\n\
         users:\n\
         - name: sluice-admin\n  \
           user:\n    \
             client-certificate: {cert}\n    \
             client-key: {key}\n\
         contexts:\n\
         - name: sluice-test\n  \
           context:\n    \
             cluster: sluice-test\n    \
             user: sluice-admin\n    \
             namespace: default\n\
         current-context: sluice-test\n",
        ca = quoted(&pki.ca_cert),
        cert = quoted(&pki.admin_cert),
        key = quoted(&pki.admin_key),
    );
    std::fs::write(path, yaml).map_err(TestBedError::io(format!("writing {}", path.display())))
}

fn token_kubeconfig(server_url: &str, ca: &Path, token: &str) -> String {
    let token = serde_json::Value::String(token.to_string()).to_string();
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: sluice-test\n  \
           cluster:\n    \
             server: {server_url}\n    \
             certificate-authority: {ca}\n\
         users:\n\
         - name: token\n  \
           user:\n    \
             token: {token}\n\
         contexts:\n\
         - name: token\n  \
           context:\n    \
             cluster: sluice-test\n    \
             user: token\n\
         current-context: token\n",
        ca = quoted(ca),
    )
}

/// The `server:` URL of a kubeconfig's first cluster.
fn server_of(kubeconfig: &Path) -> Result<String, TestBedError> {
    let parsed = ::kube::config::Kubeconfig::read_from(kubeconfig)
        .map_err(kube_error("reading $SLUICE_KUBECONFIG"))?;
    parsed
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .ok_or_else(|| {
            TestBedError::Env(format!("{} names no cluster server", kubeconfig.display()))
        })
}

#[cfg(test)]
mod tests {
    use super::{quoted, token_kubeconfig};
    use std::path::Path;

    #[test]
    fn token_kubeconfig_parses_with_the_token_and_ca() {
        let yaml = token_kubeconfig("https://127.0.0.1:1", Path::new("/tmp/a b/ca.crt"), "t\"k");
        let parsed = ::kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
        let user = parsed.auth_infos[0].auth_info.as_ref().unwrap();
        assert!(user.token.is_some());
        let cluster = parsed.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(
            cluster.certificate_authority.as_deref(),
            Some("/tmp/a b/ca.crt")
        );
        assert_eq!(quoted(Path::new("/x")), "\"/x\"");
    }
}
