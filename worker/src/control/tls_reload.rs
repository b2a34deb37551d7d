//! The control API's certificate follows its files, so a renewed certificate needs no restart.
//!
//! The operator renews each job's control certificate long before it expires and whenever its CA rotates,
//! by rewriting the job's Secret; the kubelet then swaps the mounted files atomically. A watcher task reads
//! the certificate and key every [`POLL`] and hands a new pair to the TLS server, whose next handshakes use
//! it; open connections keep the certificate they were made with. A pair is used only when two reads in a
//! row agree (a secret agent may write the two files one after the other), and a pair that does not load
//! (a key that does not match, half a file) keeps the previous certificate and is logged by path, never by
//! content.

use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;

use super::server::TlsFiles;

/// How often the files are read again.
pub const POLL: Duration = Duration::from_secs(2);

/// The two files' bytes as read together.
type Pair = (Vec<u8>, Vec<u8>);

fn read_pair(files: &TlsFiles) -> Option<Pair> {
    let cert = std::fs::read(&files.cert).ok()?;
    let key = std::fs::read(&files.key).ok()?;
    (!cert.is_empty() && !key.is_empty()).then_some((cert, key))
}

/// What to do with the pair just read, given the one in use and the one read before.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Unchanged, unreadable, or not yet stable: nothing to do.
    Wait,
    /// A new pair, read twice alike: load it.
    Load,
}

fn step(current: &Pair, previous_read: Option<&Pair>, read: Option<&Pair>) -> Step {
    match read {
        Some(read) if read != current && previous_read == Some(read) => Step::Load,
        _ => Step::Wait,
    }
}

/// Starts the watcher for the server `config` serves (loaded from `files` just before).
pub fn follow(config: RustlsConfig, files: TlsFiles) {
    let Some(mut current) = read_pair(&files) else {
        tracing::warn!(cert = %files.cert.display(), key = %files.key.display(),
            "control TLS files unreadable after start; the certificate will not be renewed");
        return;
    };
    tokio::spawn(async move {
        let mut previous_read: Option<Pair> = None;
        loop {
            tokio::time::sleep(POLL).await;
            let read = read_pair(&files);
            if step(&current, previous_read.as_ref(), read.as_ref()) == Step::Load
                && let Some((cert, key)) = read.clone()
            {
                match config.reload_from_pem(cert.clone(), key.clone()).await {
                    Ok(()) => {
                        tracing::info!(cert = %files.cert.display(),
                            "control API certificate replaced; new connections use it");
                    }
                    Err(e) => {
                        tracing::warn!(cert = %files.cert.display(), key = %files.key.display(),
                            error = %e, "the control API's new certificate or key does not load; keeping the previous one");
                    }
                }
                // A pair that failed to load is not retried until the files change again.
                current = (cert, key);
            }
            previous_read = read;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{Step, step};

    fn pair(c: &str) -> (Vec<u8>, Vec<u8>) {
        (c.as_bytes().to_vec(), b"key".to_vec())
    }

    #[test]
    fn a_new_pair_is_loaded_only_after_two_equal_reads() {
        let (old, new) = (pair("old"), pair("new"));
        assert_eq!(step(&old, Some(&old), Some(&old)), Step::Wait);
        assert_eq!(step(&old, Some(&old), Some(&new)), Step::Wait);
        assert_eq!(step(&old, Some(&new), Some(&new)), Step::Load);
        assert_eq!(step(&new, Some(&new), Some(&new)), Step::Wait);
    }

    #[test]
    fn an_unreadable_or_changing_pair_is_never_loaded() {
        let (old, a, b) = (pair("old"), pair("a"), pair("b"));
        assert_eq!(step(&old, None, None), Step::Wait);
        assert_eq!(step(&old, Some(&a), None), Step::Wait);
        assert_eq!(step(&old, Some(&a), Some(&b)), Step::Wait);
    }
}
