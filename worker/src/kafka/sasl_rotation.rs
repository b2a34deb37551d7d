//! Kafka SASL credentials that follow their files, so rotated credentials need no restart.
//!
//! The credentials come from files (a mounted Secret, which the kubelet replaces atomically, or files a
//! secret agent renders). A watcher thread re-reads them every [`POLL`]. New credentials need new
//! connections: a broker refuses a re-authentication under another principal (KIP-368), and a failed
//! authentication makes librdkafka abort the open transaction. So each holder of a long-lived client
//! replaces it when the credentials change — the processing loop at a transaction boundary (see
//! `worker/src/worker/txn_loop.rs`) — and clients created later take the current pair ([`SaslRotation::configure`]).
//! The old connections close with their clients, so the previous user may be deleted on the broker once the
//! worker has switched (a grace of [`POLL`] plus one commit interval).
//!
//! A file that cannot be read or is empty (an agent half-way through writing it) keeps the previous pair and
//! is logged, naming the file, never its content.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rdkafka::ClientConfig;

/// How often the files are read again.
pub const POLL: Duration = Duration::from_secs(2);

/// The files the SASL username and password are read from (`SLUICE_KAFKA_SASL_{USERNAME,PASSWORD}_FILE`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaslFiles {
    /// Absent: the username stays what the config says.
    pub username: Option<PathBuf>,
    pub password: PathBuf,
}

/// A SASL username and password. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SaslCredentials(** redacted **)")
    }
}

/// A credential file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SaslFileError {
    #[error("reading the SASL credential file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the SASL credential file {path} is empty")]
    Empty { path: PathBuf },
    #[error("the SASL credential file {path} holds a NUL byte")]
    Nul { path: PathBuf },
}

/// Reads one credential file: a trailing newline (and carriage return) is not part of the value.
pub fn read_credential_file(path: &Path) -> Result<String, SaslFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| SaslFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value = text.strip_suffix('\n').unwrap_or(&text);
    let value = value.strip_suffix('\r').unwrap_or(value);
    if value.is_empty() {
        return Err(SaslFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    if value.contains('\0') {
        return Err(SaslFileError::Nul {
            path: path.to_path_buf(),
        });
    }
    Ok(value.to_string())
}

/// The current credentials and how many times they changed.
#[derive(Debug)]
pub struct SaslRotation {
    files: SaslFiles,
    current: Mutex<SaslCredentials>,
    generation: AtomicU64,
}

impl SaslRotation {
    /// Follows `files` from `initial` (what the clients were created with) when [`Self::refresh`] is called.
    pub fn new(files: SaslFiles, initial: SaslCredentials) -> Arc<SaslRotation> {
        Arc::new(SaslRotation {
            files,
            current: Mutex::new(initial),
            generation: AtomicU64::new(0),
        })
    }

    /// [`Self::new`], refreshed every [`POLL`] by a watcher thread that ends when the last handle is dropped.
    pub fn start(files: SaslFiles, initial: SaslCredentials) -> Arc<SaslRotation> {
        let rotation = Self::new(files, initial);
        let weak = Arc::downgrade(&rotation);
        let spawned = std::thread::Builder::new()
            .name("sluice-sasl-files".into())
            .spawn(move || watch(&weak));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the SASL credential watcher; rotated credentials need a restart");
        }
        rotation
    }

    /// Reads the files again; `Ok(true)` when the credentials changed. The pair is read twice and used only
    /// when both reads agree, so a pair caught half-way through a rotation (one file replaced, the other not
    /// yet) waits for the next poll instead of reaching the clients.
    pub fn refresh(&self) -> Result<bool, SaslFileError> {
        let first = self.read_files()?;
        if self.read_files()? != first {
            return Ok(false);
        }
        let (username, password) = first;
        let Ok(mut current) = self.current.lock() else {
            return Ok(false);
        };
        let next = SaslCredentials {
            username: username.unwrap_or_else(|| current.username.clone()),
            password,
        };
        if *current == next {
            return Ok(false);
        }
        *current = next;
        self.generation.fetch_add(1, Ordering::Release);
        Ok(true)
    }

    /// The username (when it has a file) and the password, as the files hold them now.
    fn read_files(&self) -> Result<(Option<String>, String), SaslFileError> {
        let username = match &self.files.username {
            Some(path) => Some(read_credential_file(path)?),
            None => None,
        };
        Ok((username, read_credential_file(&self.files.password)?))
    }

    /// A follower for one set of clients, up to date with the credentials they were created with.
    pub fn follower(self: &Arc<Self>) -> SaslFollower {
        SaslFollower {
            rotation: Arc::clone(self),
            seen: self.generation.load(Ordering::Acquire),
        }
    }

    /// Puts the current credentials into `config`, for a client created now.
    pub fn configure(&self, config: &mut ClientConfig) {
        if let Some(c) = self.current() {
            config.set("sasl.username", c.username);
            config.set("sasl.password", c.password);
        }
    }

    fn current(&self) -> Option<SaslCredentials> {
        self.current.lock().ok().map(|c| c.clone())
    }
}

/// Reads the files every [`POLL`] while someone still holds the rotation.
fn watch(rotation: &Weak<SaslRotation>) {
    loop {
        std::thread::sleep(POLL);
        let Some(rotation) = rotation.upgrade() else {
            return;
        };
        match rotation.refresh() {
            Ok(true) => tracing::info!(
                "Kafka SASL credentials changed on disk; the Kafka clients are replaced with ones that use them"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "keeping the previous Kafka SASL credentials"),
        }
    }
}

/// Tells one holder of long-lived clients when to replace them.
#[derive(Debug)]
pub struct SaslFollower {
    rotation: Arc<SaslRotation>,
    seen: u64,
}

impl SaslFollower {
    /// Whether the credentials changed since the clients were created (one atomic load).
    pub fn pending(&self) -> bool {
        self.rotation.generation.load(Ordering::Acquire) != self.seen
    }

    /// Puts the current credentials into `config` for the clients that replace the old ones, and marks them
    /// followed.
    pub fn configure(&mut self, config: &mut ClientConfig) {
        self.seen = self.rotation.generation.load(Ordering::Acquire);
        self.rotation.configure(config);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &std::path::Path, user: Option<&str>, pass: &str) -> SaslFiles {
        let password = dir.join("password");
        std::fs::write(&password, pass).unwrap();
        let username = user.map(|u| {
            let p = dir.join("username");
            std::fs::write(&p, u).unwrap();
            p
        });
        SaslFiles { username, password }
    }

    fn creds(u: &str, p: &str) -> SaslCredentials {
        SaslCredentials {
            username: u.into(),
            password: p.into(),
        }
    }

    #[test]
    fn a_changed_file_bumps_the_generation_and_an_unchanged_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path(), Some("alice\n"), "first\r\n");
        let rotation = SaslRotation::new(f.clone(), creds("alice", "first"));
        let mut follower = rotation.follower();
        assert!(!rotation.refresh().unwrap());
        std::fs::write(&f.password, "second\n").unwrap();
        assert!(rotation.refresh().unwrap());
        assert_eq!(rotation.current().unwrap(), creds("alice", "second"));
        assert!(follower.pending());
        let mut config = ClientConfig::new();
        follower.configure(&mut config);
        assert!(!follower.pending());
        assert_eq!(config.get("sasl.password"), Some("second"));
        assert_eq!(config.get("sasl.username"), Some("alice"));
        assert!(!rotation.refresh().unwrap());
    }

    #[test]
    fn without_a_username_file_the_configured_username_stays() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path(), None, "first");
        let rotation = SaslRotation::new(f.clone(), creds("bob", "first"));
        std::fs::write(&f.password, "second").unwrap();
        assert!(rotation.refresh().unwrap());
        assert_eq!(rotation.current().unwrap(), creds("bob", "second"));
    }

    #[test]
    fn an_empty_or_missing_file_keeps_the_previous_credentials_and_names_the_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = files(dir.path(), Some("alice"), "first");
        let rotation = SaslRotation::new(f.clone(), creds("alice", "first"));
        std::fs::write(&f.password, "\n").unwrap();
        let err = rotation.refresh().unwrap_err();
        assert!(matches!(err, SaslFileError::Empty { .. }), "{err}");
        std::fs::remove_file(&f.password).unwrap();
        let err = rotation.refresh().unwrap_err().to_string();
        assert!(err.contains("password") && !err.contains("first"), "{err}");
        assert_eq!(rotation.current().unwrap(), creds("alice", "first"));
    }

    #[test]
    fn debug_shows_no_credential() {
        let shown = format!("{:?}", creds("alice", "hunter2-secret"));
        assert!(
            !shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
