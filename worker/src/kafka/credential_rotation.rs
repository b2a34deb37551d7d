//! Kafka credentials that follow their files, so rotated credentials and certificates need no restart.
//!
//! SASL credentials come from files (a mounted Secret, which the kubelet replaces atomically, or files a
//! secret agent renders), and librdkafka reads the TLS files (`ssl.ca.location`, `ssl.certificate.location`,
//! `ssl.key.location`) when a client is created. A watcher thread reads them all every [`POLL`]. New
//! credentials need new clients: librdkafka never reloads TLS files, a broker refuses a re-authentication
//! under another principal (KIP-368), and a failed authentication makes librdkafka abort the open
//! transaction. So each holder of a long-lived client replaces it when the files change — the processing
//! loop at a transaction boundary (`worker/src/worker/txn_loop.rs`) — and clients created later take the
//! current SASL pair ([`CredentialRotation::configure`]). The old connections close with their clients, so
//! the previous user or certificate may be withdrawn once the worker has switched (a grace of [`POLL`] plus
//! one commit interval).
//!
//! A file that cannot be read or is empty (an agent half-way through writing it) keeps the previous
//! credentials and is logged, naming the file, never its content.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rdkafka::ClientConfig;

/// How often the files are read again.
pub const POLL: Duration = Duration::from_secs(2);

/// The librdkafka properties that name TLS files read at client creation.
pub const TLS_FILE_PROPERTIES: [&str; 3] = [
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
];

/// The files the SASL username and password are read from (`SLUICE_KAFKA_SASL_{USERNAME,PASSWORD}_FILE`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaslFiles {
    /// Absent: the username stays what the config says.
    pub username: Option<PathBuf>,
    pub password: PathBuf,
}

/// Every file the Kafka clients take credentials from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialFiles {
    pub sasl: Option<SaslFiles>,
    /// The TLS files the config names (only regular files: `ssl.ca.location` may name a directory).
    pub tls: Vec<PathBuf>,
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
pub enum CredentialFileError {
    #[error("reading the credential file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the credential file {path} is empty")]
    Empty { path: PathBuf },
    #[error("the SASL credential file {path} holds a NUL byte")]
    Nul { path: PathBuf },
}

/// A credential file's text without its trailing newline (and carriage return), which editors and `echo`
/// add but which is not part of the value.
pub fn without_line_end(text: &str) -> &str {
    let value = text.strip_suffix('\n').unwrap_or(text);
    value.strip_suffix('\r').unwrap_or(value)
}

/// Reads one SASL credential file ([`without_line_end`]).
pub fn read_credential_file(path: &Path) -> Result<String, CredentialFileError> {
    let text = read_file(path)?;
    let text = String::from_utf8_lossy(&text);
    let value = without_line_end(&text);
    if value.is_empty() {
        return Err(CredentialFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    if value.contains('\0') {
        return Err(CredentialFileError::Nul {
            path: path.to_path_buf(),
        });
    }
    Ok(value.to_string())
}

/// A file's bytes; an empty file is an error (a writer caught half-way).
fn read_file(path: &Path) -> Result<Vec<u8>, CredentialFileError> {
    let bytes = std::fs::read(path).map_err(|source| CredentialFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.is_empty() {
        return Err(CredentialFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// What the files held at one look. `Debug` shows no content.
#[derive(Clone, PartialEq, Eq)]
struct FileContents {
    sasl: Option<SaslCredentials>,
    tls: Vec<Vec<u8>>,
}

impl std::fmt::Debug for FileContents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FileContents(sasl: {:?}, {} TLS files)",
            self.sasl,
            self.tls.len()
        )
    }
}

/// What changed between two looks, for the log.
#[derive(Debug)]
pub struct Change {
    pub sasl: bool,
    pub tls_files: Vec<PathBuf>,
}

/// The current credentials and how many times they changed.
#[derive(Debug)]
pub struct CredentialRotation {
    files: CredentialFiles,
    current: Mutex<FileContents>,
    generation: AtomicU64,
}

impl CredentialRotation {
    /// Follows `files` when [`Self::refresh`] is called, from what they hold now; `sasl` is the pair the
    /// clients were created with (its username stays when there is no username file).
    pub fn new(
        files: CredentialFiles,
        sasl: Option<SaslCredentials>,
    ) -> Result<Arc<CredentialRotation>, CredentialFileError> {
        let tls = files
            .tls
            .iter()
            .map(|p| read_file(p))
            .collect::<Result<_, _>>()?;
        Ok(Arc::new(CredentialRotation {
            files,
            current: Mutex::new(FileContents { sasl, tls }),
            generation: AtomicU64::new(0),
        }))
    }

    /// [`Self::new`], refreshed every [`POLL`] by a watcher thread that ends when the last handle is dropped.
    pub fn start(
        files: CredentialFiles,
        sasl: Option<SaslCredentials>,
    ) -> Result<Arc<CredentialRotation>, CredentialFileError> {
        let rotation = Self::new(files, sasl)?;
        let weak = Arc::downgrade(&rotation);
        let spawned = std::thread::Builder::new()
            .name("sluice-credentials".into())
            .spawn(move || watch(&weak));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the Kafka credential watcher; rotated credentials need a restart");
        }
        Ok(rotation)
    }

    /// Reads the files again; `Some` when they changed. Everything is read twice and used only when both
    /// reads agree, so a rotation caught half-way (one file replaced, another not yet) waits for the next
    /// poll instead of reaching the clients.
    pub fn refresh(&self) -> Result<Option<Change>, CredentialFileError> {
        let Ok(mut current) = self.current.lock() else {
            return Ok(None);
        };
        let username = current.sasl.as_ref().map(|c| c.username.clone());
        let first = self.read_files(username.as_deref())?;
        if self.read_files(username.as_deref())? != first || *current == first {
            return Ok(None);
        }
        let tls_files = (self.files.tls.iter().zip(&first.tls).zip(&current.tls))
            .filter(|((_, new), old)| new != old)
            .map(|((path, _), _)| path.clone())
            .collect();
        let change = Change {
            sasl: first.sasl != current.sasl,
            tls_files,
        };
        *current = first;
        self.generation.fetch_add(1, Ordering::Release);
        Ok(Some(change))
    }

    /// What the files hold now; without a username file the username stays `username`.
    fn read_files(&self, username: Option<&str>) -> Result<FileContents, CredentialFileError> {
        let sasl = match &self.files.sasl {
            Some(files) => Some(SaslCredentials {
                username: match &files.username {
                    Some(path) => read_credential_file(path)?,
                    None => username.unwrap_or_default().to_string(),
                },
                password: read_credential_file(&files.password)?,
            }),
            None => None,
        };
        let tls = self
            .files
            .tls
            .iter()
            .map(|p| read_file(p))
            .collect::<Result<_, _>>()?;
        Ok(FileContents { sasl, tls })
    }

    /// A follower for one set of clients, up to date with the files they were created from.
    pub fn follower(self: &Arc<Self>) -> RotationFollower {
        RotationFollower {
            rotation: Arc::clone(self),
            seen: self.generation.load(Ordering::Acquire),
        }
    }

    /// Puts the current SASL pair into `config`, for a client created now (it reads the TLS files itself).
    pub fn configure(&self, config: &mut ClientConfig) {
        if let Some(c) = self.current.lock().ok().and_then(|c| c.sasl.clone()) {
            config.set("sasl.username", c.username);
            config.set("sasl.password", c.password);
        }
    }
}

/// Reads the files every [`POLL`] while someone still holds the rotation.
fn watch(rotation: &Weak<CredentialRotation>) {
    loop {
        std::thread::sleep(POLL);
        let Some(rotation) = rotation.upgrade() else {
            return;
        };
        match rotation.refresh() {
            Ok(Some(change)) => tracing::info!(
                sasl = change.sasl,
                tls_files = ?change.tls_files,
                "Kafka credential files changed; the Kafka clients are replaced with ones that use them"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "keeping the previous Kafka credentials"),
        }
    }
}

/// Tells one holder of long-lived clients when to replace them.
#[derive(Debug)]
pub struct RotationFollower {
    rotation: Arc<CredentialRotation>,
    seen: u64,
}

impl RotationFollower {
    /// Whether the files changed since the clients were created (one atomic load).
    pub fn pending(&self) -> bool {
        self.rotation.generation.load(Ordering::Acquire) != self.seen
    }

    /// Puts the current SASL pair into `config` for the clients that replace the old ones, and marks them
    /// followed.
    pub fn configure(&mut self, config: &mut ClientConfig) {
        self.seen = self.rotation.generation.load(Ordering::Acquire);
        self.rotation.configure(config);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sasl_files(dir: &Path, user: Option<&str>, pass: &str) -> CredentialFiles {
        let password = dir.join("password");
        std::fs::write(&password, pass).unwrap();
        let username = user.map(|u| {
            let p = dir.join("username");
            std::fs::write(&p, u).unwrap();
            p
        });
        CredentialFiles {
            sasl: Some(SaslFiles { username, password }),
            tls: Vec::new(),
        }
    }

    fn creds(u: &str, p: &str) -> Option<SaslCredentials> {
        Some(SaslCredentials {
            username: u.into(),
            password: p.into(),
        })
    }

    fn current(r: &CredentialRotation) -> Option<SaslCredentials> {
        r.current.lock().unwrap().sasl.clone()
    }

    #[test]
    fn a_changed_file_bumps_the_generation_and_an_unchanged_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let f = sasl_files(dir.path(), Some("alice\n"), "first\r\n");
        let rotation = CredentialRotation::new(f.clone(), creds("alice", "first")).unwrap();
        let mut follower = rotation.follower();
        assert!(rotation.refresh().unwrap().is_none());
        let password = &f.sasl.as_ref().unwrap().password;
        std::fs::write(password, "second\n").unwrap();
        let change = rotation.refresh().unwrap().unwrap();
        assert!(change.sasl && change.tls_files.is_empty());
        assert_eq!(current(&rotation), creds("alice", "second"));
        assert!(follower.pending());
        let mut config = ClientConfig::new();
        follower.configure(&mut config);
        assert!(!follower.pending());
        assert_eq!(config.get("sasl.password"), Some("second"));
        assert_eq!(config.get("sasl.username"), Some("alice"));
        assert!(rotation.refresh().unwrap().is_none());
    }

    #[test]
    fn without_a_username_file_the_configured_username_stays() {
        let dir = tempfile::tempdir().unwrap();
        let f = sasl_files(dir.path(), None, "first");
        let rotation = CredentialRotation::new(f.clone(), creds("bob", "first")).unwrap();
        std::fs::write(&f.sasl.as_ref().unwrap().password, "second").unwrap();
        assert!(rotation.refresh().unwrap().is_some());
        assert_eq!(current(&rotation), creds("bob", "second"));
    }

    #[test]
    fn an_empty_or_missing_file_keeps_the_previous_credentials_and_names_the_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = sasl_files(dir.path(), Some("alice"), "first");
        let rotation = CredentialRotation::new(f.clone(), creds("alice", "first")).unwrap();
        let password = &f.sasl.as_ref().unwrap().password;
        std::fs::write(password, "\n").unwrap();
        let err = rotation.refresh().unwrap_err();
        assert!(matches!(err, CredentialFileError::Empty { .. }), "{err}");
        std::fs::remove_file(password).unwrap();
        let err = rotation.refresh().unwrap_err().to_string();
        assert!(err.contains("password") && !err.contains("first"), "{err}");
        assert_eq!(current(&rotation), creds("alice", "first"));
    }

    #[test]
    fn a_changed_tls_file_is_named_and_replaces_the_clients_without_touching_sasl() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert) = (dir.path().join("ca.crt"), dir.path().join("client.crt"));
        std::fs::write(&ca, "ca one").unwrap();
        std::fs::write(&cert, "cert one").unwrap();
        let files = CredentialFiles {
            sasl: None,
            tls: vec![ca.clone(), cert.clone()],
        };
        let rotation = CredentialRotation::new(files, None).unwrap();
        let follower = rotation.follower();
        assert!(rotation.refresh().unwrap().is_none());
        std::fs::write(&cert, "cert two").unwrap();
        let change = rotation.refresh().unwrap().unwrap();
        assert!(!change.sasl);
        assert_eq!(change.tls_files, vec![cert.clone()]);
        assert!(follower.pending());
        std::fs::write(&cert, "").unwrap();
        assert!(
            rotation.refresh().is_err(),
            "an empty file is a writer caught half-way"
        );
        let mut config = ClientConfig::new();
        rotation.configure(&mut config);
        assert_eq!(config.get("sasl.password"), None);
    }

    #[test]
    fn debug_shows_no_credential() {
        let shown = format!("{:?}", creds("alice", "hunter2-secret"));
        assert!(
            !shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
        let contents = FileContents {
            sasl: creds("alice", "hunter2-secret"),
            tls: vec![b"-----BEGIN PRIVATE KEY-----".to_vec()],
        };
        let shown = format!("{contents:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("PRIVATE"),
            "{shown}"
        );
    }
}
