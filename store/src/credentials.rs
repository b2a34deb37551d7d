//! Static S3 credentials, for a process that holds them itself (the operator reads them from the job's
//! Secret). Workers never get these: their credentials come from files that follow a mounted Secret
//! ([`crate::credential_files`]) or the SDK's standard chain (environment, shared files, web identity), so
//! they never travel with a job config.

/// An access key pair. `Debug` shows the key id only; the secret never reaches a log line.
#[derive(Clone)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::S3Credentials;

    #[test]
    fn debug_never_shows_the_secret() {
        let c = S3Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "very-secret".into(),
        };
        let shown = format!("{c:?}");
        assert!(
            shown.contains("AKID") && !shown.contains("very-secret"),
            "{shown}"
        );
    }
}
