//! Bearer-token authentication for `/v1/*`. The token comes from a file (a mounted Secret), is compared in
//! constant time, and never appears in logs or error messages.

use std::path::Path;

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

    /// True when the `Authorization` header value is `Bearer <this token>`. Constant time in the token bytes.
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(given) = header.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        let given = given.trim_ascii();
        // Compare every byte even after a mismatch; the length difference is folded in too.
        let mut diff = u8::from(given.len() != self.0.len());
        for (i, b) in self.0.iter().enumerate() {
            diff |= b ^ given.get(i).copied().unwrap_or(0);
        }
        diff == 0
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
    fn short_token_files_are_refused_without_echoing_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "short\n").unwrap();
        let err = Token::from_file(&p).unwrap_err().to_string();
        assert!(err.contains("shorter than 16"), "{err}");
        assert!(!err.contains("short\n"));
    }
}
