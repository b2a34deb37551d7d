//! A real Kubernetes control plane, built from source by [`install::ensure_kube`] (there is no Docker or kind
//! here), in one of two shapes ([`ControlPlaneOptions`]):
//! - **loopback** (the default): etcd plus kube-apiserver on 127.0.0.1, with no scheduler, controller-manager or
//!   kubelet; the test bed's node agent (`sluice-node-agent`) stands in for the kubelet where a test needs pods;
//! - **full**: the API server on the real node's bridge address plus kube-controller-manager and kube-scheduler
//!   ([`controllers`]), for a real kubelet ([`crate::services::node`]) to join.
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
pub mod controllers;
pub mod install;
pub mod kubeconfig;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::TestBedError;
use crate::ports::free_port;
use crate::process::ManagedProcess;
use certs::PkiFiles;
use install::{ensure_kube, kube_bin};
use kubeconfig::{server_of, token_kubeconfig, write_admin_kubeconfig};

/// Environment variable naming the kubeconfig of the shared cluster started by `sluice-testbed serve`.
pub const ENV_KUBECONFIG: &str = "SLUICE_KUBECONFIG";
/// The ClusterIP range. Routed by kube-proxy on a real node; only allocated from on the loopback shape.
pub const SERVICE_CIDR: &str = "10.96.0.0/24";
/// The service-account token issuer (and default audience).
pub const SA_ISSUER: &str = "https://kubernetes.default.svc";

const ETCD_TIMEOUT: Duration = Duration::from_secs(30);
/// The API server bootstraps RBAC roles, priority levels and CRD machinery before `/readyz` passes; on a busy
/// 2-core machine that takes a while.
const APISERVER_TIMEOUT: Duration = Duration::from_secs(120);

/// How a control plane is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlPlaneOptions {
    /// The address the API server binds and advertises (and its certificate names).
    pub host: IpAddr,
    /// Also run kube-controller-manager and kube-scheduler, and admit pods as a full cluster does
    /// (ServiceAccount admission and NodeRestriction; the `kubernetes` Service gets real endpoints).
    pub controllers: bool,
}

impl ControlPlaneOptions {
    /// The loopback shape: API server only, on 127.0.0.1.
    pub fn loopback() -> ControlPlaneOptions {
        ControlPlaneOptions {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            controllers: false,
        }
    }

    /// The full shape for a real node whose bridge has `host` as the host's address.
    pub fn full(host: IpAddr) -> ControlPlaneOptions {
        ControlPlaneOptions {
            host,
            controllers: true,
        }
    }
}

/// A running control plane, or (from [`KubeCluster::from_env_or_start`]) a handle to the shared one.
#[derive(Debug)]
pub struct KubeCluster {
    dir: PathBuf,
    server_url: String,
    kubeconfig: PathBuf,
    apiserver: Option<ManagedProcess>,
    etcd: Option<ManagedProcess>,
    controllers: Vec<ManagedProcess>,
    pki: Option<PkiFiles>,
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
            controllers: Vec::new(),
            pki: None,
            remove_dir_on_drop: false,
        })
    }

    /// The loopback shape ([`ControlPlaneOptions::loopback`]) under `dir`.
    pub fn start(dir: &Path) -> Result<KubeCluster, TestBedError> {
        KubeCluster::start_with(dir, ControlPlaneOptions::loopback())
    }

    /// Builds the binaries if needed, generates certificates, starts etcd on a free loopback port and
    /// kube-apiserver on a free port of `options.host`, writes `dir/kubeconfig`, waits until `/readyz` passes,
    /// then starts the controllers if asked.
    pub fn start_with(
        dir: &Path,
        options: ControlPlaneOptions,
    ) -> Result<KubeCluster, TestBedError> {
        ensure_kube()?;
        std::fs::create_dir_all(dir)
            .map_err(TestBedError::io(format!("creating {}", dir.display())))?;
        let extra_ips: &[IpAddr] = if options.host.is_loopback() {
            &[]
        } else {
            &[options.host]
        };
        let pki = certs::generate(&dir.join("pki"), extra_ips)?;
        let etcd_port = free_port()?;
        let etcd = start_etcd(dir, etcd_port)?;
        let port = crate::ports::free_port_on(options.host)?;
        let server_url = format!("https://{}", SocketAddr::new(options.host, port));
        let kubeconfig = dir.join("kubeconfig");
        write_admin_kubeconfig(&kubeconfig, &server_url, &pki)?;
        let mut cluster = KubeCluster {
            dir: dir.to_path_buf(),
            server_url,
            kubeconfig,
            apiserver: None,
            etcd: Some(etcd),
            controllers: Vec::new(),
            pki: None,
            remove_dir_on_drop: true,
        };
        let listen = SocketAddr::new(options.host, port);
        let mut apiserver = start_apiserver(dir, listen, etcd_port, &pki, options.controllers)?;
        let probe = cluster.kubectl();
        apiserver.wait_until(APISERVER_TIMEOUT, |_| readyz(&probe))?;
        cluster.apiserver = Some(apiserver);
        if options.controllers {
            cluster.controllers = controllers::start(dir, &cluster.server_url, &pki)?;
        }
        cluster.pki = Some(pki);
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

    /// The certificates of a cluster this handle started (none for a shared cluster).
    pub fn pki(&self) -> Option<&PkiFiles> {
        self.pki.as_ref()
    }

    /// The cluster directory (certificates, logs, kubeconfigs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// PIDs of the processes this handle owns (none for a shared cluster).
    pub fn pids(&self) -> Vec<u32> {
        [&self.apiserver, &self.etcd]
            .into_iter()
            .flatten()
            .chain(&self.controllers)
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

    /// Kills the controllers, kube-apiserver, then etcd. A shared cluster is left alone.
    pub fn stop(&mut self) {
        for mut p in self.controllers.drain(..) {
            p.kill();
        }
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

pub(crate) fn kube_error<E>(action: &'static str) -> impl FnOnce(E) -> TestBedError
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
    listen: SocketAddr,
    etcd_port: u16,
    pki: &PkiFiles,
    full: bool,
) -> Result<ManagedProcess, TestBedError> {
    let mut cmd = Command::new(kube_bin("kube-apiserver"));
    let (kubelet_cert, kubelet_key) = pki.client("apiserver-kubelet-client");
    cmd.arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
        .arg(format!("--bind-address={}", listen.ip()))
        .arg(format!("--advertise-address={}", listen.ip()))
        .arg(format!("--secure-port={}", listen.port()))
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
        .arg(format!(
            "--kubelet-client-certificate={}",
            kubelet_cert.display()
        ))
        .arg(format!("--kubelet-client-key={}", kubelet_key.display()));
    if full {
        // As a production cluster: a pod's ServiceAccount must exist (the controller-manager creates each
        // namespace's `default`) and gets a projected token; a kubelet may only touch its own node's objects.
        cmd.arg("--enable-admission-plugins=NodeRestriction")
            // `kubectl logs`/`exec` reach the kubelet at its Node's address; its host name resolves nowhere.
            .arg("--kubelet-preferred-address-types=InternalIP");
    } else {
        cmd.arg("--endpoint-reconciler-type=none")
            .arg("--disable-admission-plugins=ServiceAccount");
    }
    cmd.arg("--allow-privileged=true")
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
