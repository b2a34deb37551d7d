//! The audit table's S3 keys, kept current.
//!
//! The checkpoint store's client asks its credentials provider again every minute (see the store's
//! `credential_files.rs`); the audit table's storage takes its keys as plain properties when the catalog is
//! opened. So before each append the writer reads the key files again and, when the pair changed, opens the
//! table anew with it: keys rotated in the mounted Secret are used from the next snapshot on, without a
//! restart. Without key files (`SLUICE_S3_CREDENTIALS_DIR` unset) the keys come from the AWS environment
//! variables, read once.

use sluice_audit::AuditTableConfig;
use sluice_store::credential_files::{CredentialFiles, KeyPair};

/// Where the keys come from.
#[derive(Debug, Clone)]
pub struct AuditKeys {
    files: Option<CredentialFiles>,
}

impl AuditKeys {
    pub fn from_env() -> AuditKeys {
        AuditKeys {
            files: CredentialFiles::from_env(),
        }
    }

    pub fn from_files(files: Option<CredentialFiles>) -> AuditKeys {
        AuditKeys { files }
    }

    /// `cfg` with the keys the files hold now, or None when it already has them (or takes no S3 keys, or
    /// they come from the environment). The error names the file that could not be read.
    pub fn refreshed(&self, cfg: &AuditTableConfig) -> Result<Option<AuditTableConfig>, String> {
        let (Some(files), Some(s3)) = (&self.files, &cfg.s3) else {
            return Ok(None);
        };
        let keys = files.read_keys()?;
        let held = KeyPair {
            access_key_id: s3.access_key_id.clone().unwrap_or_default(),
            secret_access_key: s3.secret_access_key.clone().unwrap_or_default(),
            session_token: s3.session_token.clone(),
        };
        if held == keys {
            return Ok(None);
        }
        let mut next = cfg.clone();
        if let Some(s3) = next.s3.as_mut() {
            s3.access_key_id = Some(keys.access_key_id);
            s3.secret_access_key = Some(keys.secret_access_key);
            s3.session_token = keys.session_token;
        }
        Ok(Some(next))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sluice_audit::{CatalogConfig, S3Config};

    fn cfg(s3: bool) -> AuditTableConfig {
        AuditTableConfig {
            catalog: CatalogConfig::Sql {
                uri: "/tmp/catalog.db".into(),
            },
            warehouse: "s3://b/warehouse".into(),
            namespace: "sluice".into(),
            table: "decisions_audit".into(),
            target_file_size_bytes: 1 << 20,
            s3: s3.then(|| S3Config {
                endpoint: Some("http://127.0.0.1:9000".into()),
                region: "us-east-1".into(),
                path_style: true,
                access_key_id: Some("env-key".into()),
                secret_access_key: Some("env-secret".into()),
                session_token: None,
            }),
        }
    }

    fn write(dir: &std::path::Path, access: &str, secret: &str) {
        std::fs::write(dir.join("AWS_ACCESS_KEY_ID"), access).unwrap();
        std::fs::write(dir.join("AWS_SECRET_ACCESS_KEY"), secret).unwrap();
    }

    #[test]
    fn the_files_replace_the_keys_only_when_they_changed() {
        let dir = tempfile::tempdir().unwrap();
        let keys = AuditKeys::from_files(Some(CredentialFiles::new(dir.path())));
        let err = keys.refreshed(&cfg(true)).unwrap_err();
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        write(dir.path(), "key-1", "secret-1");
        let first = keys.refreshed(&cfg(true)).unwrap().unwrap();
        let s3 = first.s3.as_ref().unwrap();
        assert_eq!(s3.access_key_id.as_deref(), Some("key-1"));
        assert_eq!(s3.secret_access_key.as_deref(), Some("secret-1"));
        assert_eq!(keys.refreshed(&first).unwrap(), None, "unchanged files");
        write(dir.path(), "key-1", "secret-2");
        let second = keys.refreshed(&first).unwrap().unwrap();
        assert_eq!(
            second.s3.unwrap().secret_access_key.as_deref(),
            Some("secret-2")
        );
    }

    #[test]
    fn without_files_or_s3_nothing_changes() {
        assert_eq!(
            AuditKeys::from_files(None).refreshed(&cfg(true)).unwrap(),
            None
        );
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "key-1", "secret-1");
        let keys = AuditKeys::from_files(Some(CredentialFiles::new(dir.path())));
        assert_eq!(
            keys.refreshed(&cfg(false)).unwrap(),
            None,
            "a file:// warehouse"
        );
    }
}
