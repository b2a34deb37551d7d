//! Kubeconfig files of the test control plane: one per client identity (the admin, each node component) with
//! file references to the PEM files beside it, and an in-memory one for a bearer token.

use std::path::Path;

use super::certs::PkiFiles;
use super::kube_error;
use crate::TestBedError;

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
pub(super) fn quoted(path: &Path) -> String {
    serde_json::Value::String(path.display().to_string()).to_string()
}

/// Writes the admin kubeconfig (user `sluice-admin`, group `system:masters`).
pub(super) fn write_admin_kubeconfig(
    path: &Path,
    server_url: &str,
    pki: &PkiFiles,
) -> Result<(), TestBedError> {
    write_kubeconfig(
        path,
        server_url,
        &pki.ca_cert,
        &pki.admin_cert,
        &pki.admin_key,
    )
}

/// Writes a kubeconfig for the client certificate `cert`/`key`, trusting `ca`.
pub fn write_kubeconfig(
    path: &Path,
    server_url: &str,
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<(), TestBedError> {
    // File references rather than inline data: the PEM files sit beside the kubeconfig for the cluster's life.
    let user = format!(
        "client-certificate: {cert}\n    client-key: {key}",
        cert = quoted(cert),
        key = quoted(key),
    );
    let yaml = kubeconfig_yaml(server_url, ca, "client", &user);
    std::fs::write(path, yaml).map_err(TestBedError::io(format!("writing {}", path.display())))
}

pub(super) fn token_kubeconfig(server_url: &str, ca: &Path, token: &str) -> String {
    let token = serde_json::Value::String(token.to_string()).to_string();
    kubeconfig_yaml(server_url, ca, "token", &format!("token: {token}"))
}

/// A kubeconfig with one cluster (`server_url`, trusting `ca`), one user `user_name` whose fields are
/// `user_fields` (YAML lines, the later ones indented by four spaces) and the context joining them.
fn kubeconfig_yaml(server_url: &str, ca: &Path, user_name: &str, user_fields: &str) -> String {
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: sluice-test\n  \
           cluster:\n    \
             server: {server_url}\n    \
             certificate-authority: {ca}\n\
         users:\n\
         - name: {user_name}\n  \
           user:\n    \
             {user_fields}\n\
         contexts:\n\
         - name: sluice-test\n  \
           context:\n    \
             cluster: sluice-test\n    \
             user: {user_name}\n    \
             namespace: default\n\
         current-context: sluice-test\n",
        ca = quoted(ca),
    )
}

/// The `server:` URL of a kubeconfig's first cluster.
pub(super) fn server_of(kubeconfig: &Path) -> Result<String, TestBedError> {
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
