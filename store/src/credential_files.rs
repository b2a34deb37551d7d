//! S3 credentials that follow their files, so rotated access keys need no restart.
//!
//! The operator mounts the job's credentials Secret as a directory with one file per key
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally `AWS_SESSION_TOKEN`) and names it in
//! `SLUICE_S3_CREDENTIALS_DIR`; the kubelet swaps the files atomically when the Secret changes. The AWS SDK
//! asks its credentials provider again shortly before the credentials it holds expire, and the pairs read
//! here say they expire [`REFRESH`] after they were read: a rotated pair is in use within about a minute,
//! with no watcher. A missing or empty file fails that refresh (the request's error names the file, never a
//! value); the next request asks again.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_sdk_s3::config::Credentials;

/// How long a pair read from the files is used before they are read again.
pub const REFRESH: Duration = Duration::from_secs(60);

/// The file names, as the Secret's keys.
pub const ACCESS_KEY_FILE: &str = "AWS_ACCESS_KEY_ID";
pub const SECRET_KEY_FILE: &str = "AWS_SECRET_ACCESS_KEY";
pub const SESSION_TOKEN_FILE: &str = "AWS_SESSION_TOKEN";

/// The directory holding the key files. `Debug` shows the directory only.
#[derive(Debug, Clone)]
pub struct CredentialFiles {
    dir: PathBuf,
}

fn read_key(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let value = text.trim_end_matches(['\n', '\r']).to_string();
            if value.is_empty() {
                Err(format!(
                    "the S3 credential file {} is empty",
                    path.display()
                ))
            } else {
                Ok(Some(value))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "reading the S3 credential file {}: {e}",
            path.display()
        )),
    }
}

impl CredentialFiles {
    pub fn new(dir: impl Into<PathBuf>) -> CredentialFiles {
        CredentialFiles { dir: dir.into() }
    }

    /// From `SLUICE_S3_CREDENTIALS_DIR`, when set and not empty.
    pub fn from_env() -> Option<CredentialFiles> {
        std::env::var(sluice_api::worker_env::S3_CREDENTIALS_DIR)
            .ok()
            .filter(|d| !d.trim().is_empty())
            .map(CredentialFiles::new)
    }

    /// The keys in the files now. The error names the file, never a value.
    pub fn read_keys(&self) -> Result<KeyPair, String> {
        let required = |name: &str| {
            let path = self.dir.join(name);
            read_key(&path)?.ok_or_else(|| format!("no S3 credential file {}", path.display()))
        };
        Ok(KeyPair {
            access_key_id: required(ACCESS_KEY_FILE)?,
            secret_access_key: required(SECRET_KEY_FILE)?,
            session_token: read_key(&self.dir.join(SESSION_TOKEN_FILE))?,
        })
    }

    /// The pair in the files now, expiring [`REFRESH`] after `now`.
    pub fn read(&self, now: SystemTime) -> Result<Credentials, String> {
        let keys = self.read_keys()?;
        Ok(Credentials::new(
            keys.access_key_id,
            keys.secret_access_key,
            keys.session_token,
            Some(now + REFRESH),
            "sluice-credential-files",
        ))
    }
}

/// One set of keys as the files hold it, for clients that take plain strings (the audit table's storage).
/// `Debug` shows the access key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ProvideCredentials for CredentialFiles {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(
            self.read(SystemTime::now())
                .map_err(CredentialsError::provider_error),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_pair_is_read_and_expires_after_the_refresh_period() {
        let dir = tempfile::tempdir().unwrap();
        let files = CredentialFiles::new(dir.path());
        let err = files.read(SystemTime::UNIX_EPOCH).unwrap_err();
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        std::fs::write(dir.path().join(ACCESS_KEY_FILE), "AKID-1\n").unwrap();
        std::fs::write(dir.path().join(SECRET_KEY_FILE), "secret-1").unwrap();
        let c = files.read(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(
            (c.access_key_id(), c.secret_access_key()),
            ("AKID-1", "secret-1")
        );
        assert_eq!(c.expiry(), Some(SystemTime::UNIX_EPOCH + REFRESH));
        assert_eq!(c.session_token(), None);
        std::fs::write(dir.path().join(ACCESS_KEY_FILE), "AKID-2").unwrap();
        std::fs::write(dir.path().join(SECRET_KEY_FILE), "secret-2").unwrap();
        std::fs::write(dir.path().join(SESSION_TOKEN_FILE), "token-2").unwrap();
        let c = files.read(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(c.access_key_id(), "AKID-2");
        assert_eq!(c.session_token(), Some("token-2"));
        assert!(!format!("{c:?}").contains("secret-2"));
        let keys = files.read_keys().unwrap();
        assert_eq!(keys.secret_access_key, "secret-2");
        let shown = format!("{keys:?}");
        assert!(shown.contains("AKID-2"), "{shown}");
        assert!(
            !shown.contains("secret-2") && !shown.contains("token-2"),
            "{shown}"
        );
    }

    #[test]
    fn an_empty_file_fails_naming_the_file_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ACCESS_KEY_FILE), "AKID").unwrap();
        std::fs::write(dir.path().join(SECRET_KEY_FILE), "").unwrap();
        let err = CredentialFiles::new(dir.path())
            .read(SystemTime::UNIX_EPOCH)
            .unwrap_err();
        assert!(
            err.contains("AWS_SECRET_ACCESS_KEY") && err.contains("empty"),
            "{err}"
        );
    }
}
