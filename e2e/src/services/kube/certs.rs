//! The PKI of a throw-away control plane, generated with `rcgen` on every start: a CA, the API server's serving
//! certificate (valid for 127.0.0.1, localhost and the in-cluster `kubernetes.default.svc` names), an admin
//! client certificate in the `system:masters` group, and the service-account token signing key pair.
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
        }
    }
}

/// The in-cluster names of the API server (the `kubernetes` Service), plus the loopback names tests use.
const SERVER_NAMES: [&str; 7] = [
    "127.0.0.1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    // The first address of the service range (see `SERVICE_CIDR` in the cluster module): the `kubernetes`
    // Service's ClusterIP. No traffic ever goes there (there is no kube-proxy); it is only named.
    "10.96.0.1",
];

fn pki_error(what: &str) -> impl FnOnce(rcgen::Error) -> TestBedError + '_ {
    move |e| TestBedError::Env(format!("generating {what}: {e}"))
}

/// Generates the whole PKI into `dir` (created if missing) and returns the file paths.
pub fn generate(dir: &Path) -> Result<PkiFiles, TestBedError> {
    std::fs::create_dir_all(dir)
        .map_err(TestBedError::io(format!("creating {}", dir.display())))?;
    let files = PkiFiles::in_dir(dir);

    let ca_key = KeyPair::generate().map_err(pki_error("the CA key"))?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = dn("sluice-test-ca", None);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(pki_error("the CA certificate"))?;
    let issuer = Issuer::new(ca_params, ca_key);
    write(&files.ca_cert, &ca_cert.pem())?;

    let names: Vec<String> = SERVER_NAMES.iter().map(|s| (*s).to_string()).collect();
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

    // The API server maps a client certificate's CN to the user name and each O to a group.
    let mut admin = CertificateParams::default();
    admin.distinguished_name = dn("sluice-admin", Some("system:masters"));
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    admin.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    signed_pair(
        &admin,
        &issuer,
        &files.admin_cert,
        &files.admin_key,
        "admin",
    )?;

    let sa = KeyPair::generate().map_err(pki_error("the service-account key"))?;
    write(&files.sa_signing_key, &sa.serialize_pem())?;
    write(&files.sa_public_key, &sa.public_key_pem())?;
    Ok(files)
}

fn dn(common_name: &str, organization: Option<&str>) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn
}

fn signed_pair(
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
