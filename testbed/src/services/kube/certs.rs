//! The PKI of a throw-away control plane, generated with `rcgen` on every start: a CA, the API server's serving
//! certificate (valid for 127.0.0.1, localhost, the in-cluster `kubernetes.default.svc` names and any extra
//! address the server listens on), one client certificate per identity that talks to the API server (the admin
//! in `system:masters`, and the node components of a real node: kubelet, controller-manager, scheduler,
//! kube-proxy, plus the API server's own client identity towards the kubelet), and the service-account token
//! signing key pair.
//!
//! All keys are ECDSA P-256: kube-apiserver, kubectl (Go's crypto/tls) and kube-rs (rustls) all accept it, and
//! it is much faster to generate than RSA. Nothing here ever leaves the per-cluster directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::TestBedError;

/// Where each generated PEM file lives (all under one directory).
#[derive(Debug, Clone)]
pub struct PkiFiles {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    pub sa_public_key: PathBuf,
    pub sa_signing_key: PathBuf,
    dir: PathBuf,
}

impl PkiFiles {
    fn in_dir(dir: &Path) -> PkiFiles {
        PkiFiles {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("apiserver.crt"),
            server_key: dir.join("apiserver.key"),
            admin_cert: dir.join("admin.crt"),
            admin_key: dir.join("admin.key"),
            sa_public_key: dir.join("sa.pub"),
            sa_signing_key: dir.join("sa.key"),
            dir: dir.to_path_buf(),
        }
    }

    /// The certificate and key of one of [`CLIENTS`] (by its file stem), e.g. `client("kubelet")`.
    pub fn client(&self, stem: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{stem}.crt")),
            self.dir.join(format!("{stem}.key")),
        )
    }
}

/// The client identities besides the admin: (file stem, user name (CN), group (O)). The API server maps a
/// certificate's CN to the user and its O to a group; these are the names its built-in RBAC roles and the Node
/// authorizer expect.
pub const CLIENTS: [(&str, &str, Option<&str>); 5] = [
    ("kubelet", "system:node:sluice-node", Some("system:nodes")),
    ("controller-manager", "system:kube-controller-manager", None),
    ("scheduler", "system:kube-scheduler", None),
    ("kube-proxy", "system:kube-proxy", None),
    // The API server's identity when it calls the kubelet (logs, exec); the kubelet authorizes it by webhook.
    (
        "apiserver-kubelet-client",
        "kube-apiserver-kubelet-client",
        Some("system:masters"),
    ),
];

/// The in-cluster names of the API server (the `kubernetes` Service), plus the loopback names tests use.
const SERVER_NAMES: [&str; 7] = [
    "127.0.0.1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    // The first address of the service range (see `SERVICE_CIDR` in the cluster module): the `kubernetes`
    // Service's ClusterIP, which kube-proxy routes to the API server on a real node.
    "10.96.0.1",
];

pub(crate) fn pki_error(what: &str) -> impl FnOnce(rcgen::Error) -> TestBedError + '_ {
    move |e| TestBedError::Env(format!("generating {what}: {e}"))
}

/// Generates the whole PKI into `dir` (created if missing) and returns the file paths. `extra_ips` are further
/// addresses the API server's certificate must be valid for (the node bridge's host address).
pub fn generate(dir: &Path, extra_ips: &[std::net::IpAddr]) -> Result<PkiFiles, TestBedError> {
    std::fs::create_dir_all(dir)
        .map_err(TestBedError::io(format!("creating {}", dir.display())))?;
    let files = PkiFiles::in_dir(dir);

    let issuer = self_signed_ca("sluice-test-ca", &files.ca_cert)?;

    let names: Vec<String> = SERVER_NAMES
        .iter()
        .map(|s| (*s).to_string())
        .chain(extra_ips.iter().map(ToString::to_string))
        .collect();
    let mut server = CertificateParams::new(names).map_err(pki_error("the server names"))?;
    server.distinguished_name = dn("kube-apiserver", None);
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    signed_pair(
        &server,
        &issuer,
        &files.server_cert,
        &files.server_key,
        "server",
    )?;

    let admin = client_params("sluice-admin", Some("system:masters"));
    signed_pair(
        &admin,
        &issuer,
        &files.admin_cert,
        &files.admin_key,
        "admin",
    )?;
    for (stem, user, group) in CLIENTS {
        let (cert, key) = files.client(stem);
        signed_pair(&client_params(user, group), &issuer, &cert, &key, stem)?;
    }

    let sa = KeyPair::generate().map_err(pki_error("the service-account key"))?;
    write(&files.sa_signing_key, &sa.serialize_pem())?;
    write(&files.sa_public_key, &sa.public_key_pem())?;
    Ok(files)
}

/// A CA named `name` (self-signed, its certificate written to `cert_path`) that can sign further certificates.
pub(crate) fn self_signed_ca(
    name: &str,
    cert_path: &Path,
) -> Result<Issuer<'static, KeyPair>, TestBedError> {
    let key = KeyPair::generate().map_err(pki_error("a CA key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(name, None);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params
        .self_signed(&key)
        .map_err(pki_error("a CA certificate"))?;
    write(cert_path, &cert.pem())?;
    Ok(Issuer::new(params, key))
}

/// A client certificate's parameters: CN `user`, O `group`.
pub(crate) fn client_params(user: &str, group: Option<&str>) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(user, group);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params
}

pub(crate) fn dn(common_name: &str, organization: Option<&str>) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn
}

/// Generates a key, signs `params` for it with `issuer`, and writes both PEM files.
pub(crate) fn signed_pair(
    params: &CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
    cert_path: &Path,
    key_path: &Path,
    what: &str,
) -> Result<(), TestBedError> {
    let key = KeyPair::generate().map_err(pki_error(what))?;
    let cert = params.signed_by(&key, issuer).map_err(pki_error(what))?;
    write(cert_path, &cert.pem())?;
    write(key_path, &key.serialize_pem())
}

fn write(path: &Path, pem: &str) -> Result<(), TestBedError> {
    std::fs::write(path, pem).map_err(TestBedError::io(format!("writing {}", path.display())))
}
