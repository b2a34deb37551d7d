//! Bearer-token authentication for `/v1/*`. The token comes from a file (a mounted Secret), is compared in
//! constant time, and never appears in logs or error messages. The file is re-read when it changes, so a
//! rotated Secret takes effect without restarting the worker (the kubelet swaps the mounted file
//! atomically); the previous token stays valid for [`ROTATION_GRACE`], because the operator and the
//! kubelet see a Secret update at different moments.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};
use subtle::ConstantTimeEq;

/// How long a rotated-out token is still accepted.
pub const ROTATION_GRACE: Duration = Duration::from_secs(300);

/// The expected token. `Debug` is redacted so it cannot leak through a log line.
#[derive(Clone)]
pub struct Token(Vec<u8>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Why the token file is unusable (the message names the file, never its content).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("reading the control API token file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the control API token file {path} is empty or shorter than 16 bytes; put a random token in it"
    )]
    TooShort { path: String },
}

impl Token {
    /// Reads the token file; surrounding whitespace (a trailing newline from `echo`) is ignored.
    pub fn from_file(path: &Path) -> Result<Token, TokenError> {
        let shown = path.display().to_string();
        let raw = std::fs::read(path).map_err(|source| TokenError::Read {
            path: shown.clone(),
            source,
        })?;
        let trimmed = raw.trim_ascii();
        if trimmed.len() < 16 {
            return Err(TokenError::TooShort { path: shown });
        }
        Ok(Token(trimmed.to_vec()))
    }

    /// True when the `Authorization` header value is `Bearer <this token>`. Constant time in the token
    /// bytes (`subtle`, which keeps the optimiser from turning the comparison into an early exit); only the
    /// length of the given value can show, and a token's length is not its secret.
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        bool::from(given.trim_ascii().ct_eq(self.0.as_slice()))
    }
}

/// The token file of a running worker: the current token, reloaded when the file changes, and the
/// previous one during its grace period.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    grace: Duration,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    current: Token,
    modified: Option<SystemTime>,
    previous: Option<(Token, Instant)>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl TokenFile {
    /// Reads the token file once; an unusable file is a startup error.
    pub fn open(path: &Path) -> Result<TokenFile, TokenError> {
        let current = Token::from_file(path)?;
        Ok(TokenFile {
            path: path.to_path_buf(),
            grace: ROTATION_GRACE,
            state: Mutex::new(Loaded {
                current,
                modified: modified(path),
                previous: None,
            }),
        })
    }

    /// [`Token::accepts`] against the file's current token, or the previous one within its grace.
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Ok(mut loaded) = self.state.lock() else {
            return false;
        };
        self.reload_if_changed(&mut loaded);
        if loaded.current.accepts(header) {
            return true;
        }
        loaded
            .previous
            .as_ref()
            .is_some_and(|(token, since)| since.elapsed() < self.grace && token.accepts(header))
    }

    fn reload_if_changed(&self, loaded: &mut Loaded) {
        let now_modified = modified(&self.path);
        if now_modified == loaded.modified {
            return;
        }
        match Token::from_file(&self.path) {
            Ok(token) => {
                if token.0 != loaded.current.0 {
                    let old = std::mem::replace(&mut loaded.current, token);
                    loaded.previous = Some((old, Instant::now()));
                    tracing::info!(file = %self.path.display(), "control API token rotated");
                }
                loaded.modified = now_modified;
            }
            // Half-written or missing for a moment: keep the current token. The next change of the
            // file is read again; until then this warning is not repeated on every request.
            Err(e) => {
                loaded.modified = now_modified;
                tracing::warn!(error = %e, "control API token file changed but is unusable");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token(b"0123456789abcdef-secret".to_vec())
    }

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let t = token();
        assert!(t.accepts(Some(b"Bearer 0123456789abcdef-secret")));
        assert!(!t.accepts(Some(b"Bearer 0123456789abcdef-secreT")));
        assert!(!t.accepts(Some(b"Bearer 0123456789abcdef-secret-and-more")));
        assert!(!t.accepts(Some(b"Bearer 0123")));
        assert!(!t.accepts(Some(b"Basic 0123456789abcdef-secret")));
        assert!(!t.accepts(None));
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        assert!(!format!("{:?}", token()).contains("secret"));
    }

    #[test]
    fn a_rotated_file_is_picked_up_and_the_old_token_kept_for_a_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "first-token-0123456789\n").unwrap();
        let file = TokenFile::open(&p).unwrap();
        assert!(file.accepts(Some(b"Bearer first-token-0123456789")));

        // As the kubelet does: write the new content elsewhere and rename it over the old file.
        let staged = dir.path().join("token.new");
        std::fs::write(&staged, "second-token-0123456789").unwrap();
        let later = SystemTime::now() + Duration::from_secs(2);
        std::fs::File::options()
            .write(true)
            .open(&staged)
            .unwrap()
            .set_modified(later)
            .unwrap();
        std::fs::rename(&staged, &p).unwrap();
        assert!(file.accepts(Some(b"Bearer second-token-0123456789")));
        assert!(
            file.accepts(Some(b"Bearer first-token-0123456789")),
            "grace"
        );
        assert!(!file.accepts(Some(b"Bearer third-token-0123456789")));

        // An unusable new file keeps the current token.
        std::fs::write(&p, "short").unwrap();
        let file_time = SystemTime::now() + Duration::from_secs(4);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(file_time)
            .unwrap();
        assert!(file.accepts(Some(b"Bearer second-token-0123456789")));
    }

    #[test]
    fn the_previous_token_expires_after_the_grace_period() {
        let file = TokenFile {
            path: PathBuf::from("/nonexistent/token"),
            grace: Duration::ZERO,
            state: Mutex::new(Loaded {
                current: Token(b"current-token-0123456789".to_vec()),
                modified: None,
                previous: Some((Token(b"old-token-0123456789".to_vec()), Instant::now())),
            }),
        };
        assert!(!file.accepts(Some(b"Bearer old-token-0123456789")));
        assert!(file.accepts(Some(b"Bearer current-token-0123456789")));
    }

    #[test]
    fn short_token_files_are_refused_without_echoing_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "short\n").unwrap();
        let err = Token::from_file(&p).unwrap_err().to_string();
        assert!(err.contains("shorter than 16"), "{err}");
        assert!(!err.contains("short\n"));
    }
}
