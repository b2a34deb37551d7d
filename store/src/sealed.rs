//! Client-side encryption of checkpoint and savepoint objects: they hold raw cardholder state, and a bucket's
//! access rules are one misconfiguration away from public. Every object is sealed with AES-256-GCM before it
//! leaves the process, under a key derived for that object alone, and authenticated chunk by chunk.
//!
//! Format (version 1): `MAGIC | key id length (1 byte) | key id | salt (32 bytes) | chunks`. The object key is
//! HKDF-SHA256(master key named by the key id, salt); the chunks are the STREAM construction (AES-256-GCM,
//! big-endian 32-bit counter and a last-chunk flag in the nonce, [`aes_gcm::aead::stream`]) over 1 MiB of
//! plaintext each, with the header as associated data. A fresh random salt per object means no two objects
//! share a key, so the nonces may be the counter alone; truncation, reordering, a changed header or a flipped
//! bit all fail authentication. The key id in the header selects the master key when reading, so keys rotate:
//! new objects use the current key, old ones stay readable while their key remains in the keyring.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{OsRng, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use hkdf::Hkdf;
use sha2::Sha256;

/// The first bytes of every sealed object (format version 1).
pub const MAGIC: &[u8; 8] = b"SLUICE\x00\x01";
const SALT: usize = 32;
const CHUNK: usize = 1 << 20;
const TAG: usize = 16;
const INFO: &[u8] = b"sluice checkpoint object v1";

/// Why an object could not be sealed or opened. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("state encryption keys in {dir}: {reason}")]
    Keyring { dir: String, reason: String },
    #[error(
        "object {object} is encrypted with key id {key_id:?}, which the keyring does not hold; add that key's file to the keys Secret (rotation keeps old keys until no snapshot needs them)"
    )]
    UnknownKey { object: String, key_id: String },
    #[error(
        "object {object} does not decrypt with key id {key_id:?}: the key's bytes differ from the ones it was written with, or the object was altered or cut short"
    )]
    Forged { object: String, key_id: String },
    #[error("object {object} is not a sealed object: {reason}")]
    Malformed { object: String, reason: String },
    #[error(
        "object {object} is not encrypted, and this job encrypts its state; to restore snapshots written before encryption was enabled, set state.encryption.allowPlaintext: true until they have been replaced"
    )]
    Plaintext { object: String },
    #[error(
        "object {object} is encrypted (key id {key_id:?}) and this job has no state encryption keys; set state.encryption and mount the keys (spec.storage.encryptionKeysSecret)"
    )]
    NoKeys { object: String, key_id: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A 256-bit master key; its bytes never print.
#[derive(Clone)]
pub(crate) struct MasterKey(pub(crate) [u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(sluice_api::secrets::REDACTED)
    }
}

/// The master keys by id, and which one seals new objects.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: BTreeMap<String, MasterKey>,
    current: String,
    allow_plaintext: bool,
}

impl Keyring {
    pub(crate) fn from_keys(
        keys: BTreeMap<String, MasterKey>,
        current: &str,
        allow_plaintext: bool,
    ) -> Result<Keyring, String> {
        if let Some(id) = keys
            .keys()
            .find(|id| !sluice_api::secrets::is_valid_key_id(id))
        {
            return Err(format!(
                "key id {id:?} is not 1–64 characters of letters, digits, '.', '_' or '-'"
            ));
        }
        if !keys.contains_key(current) {
            let held: Vec<&String> = keys.keys().collect();
            return Err(format!(
                "the current key {current:?} (state.encryption.currentKey) is not among the keys {held:?}"
            ));
        }
        Ok(Keyring {
            keys,
            current: current.to_string(),
            allow_plaintext,
        })
    }

    /// The id of the key that seals new objects.
    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    fn cipher(&self, key_id: &str, salt: &[u8]) -> Option<Aes256Gcm> {
        let master = self.keys.get(key_id)?;
        let mut object_key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 8,160-byte limit: expand cannot fail.
        Hkdf::<Sha256>::new(Some(salt), &master.0)
            .expand(INFO, &mut object_key)
            .ok()?;
        Some(Aes256Gcm::new(&object_key.into()))
    }

    /// A new header under the current key, and its cipher.
    fn new_header(&self) -> (Vec<u8>, Aes256Gcm) {
        let mut salt = [0u8; SALT];
        OsRng.fill_bytes(&mut salt);
        let mut header = Vec::with_capacity(MAGIC.len() + 1 + self.current.len() + SALT);
        header.extend_from_slice(MAGIC);
        // A valid key id is at most 64 bytes.
        header.push(self.current.len() as u8);
        header.extend_from_slice(self.current.as_bytes());
        header.extend_from_slice(&salt);
        #[allow(clippy::expect_used)]
        let cipher = self
            .cipher(&self.current, &salt)
            .expect("the current key is in the keyring (checked when loaded)");
        (header, cipher)
    }

    /// Seals `plain` in memory.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = self.seal_stream(plain, &mut out);
        out
    }

    /// Opens `data` (the object named `object`, for errors) in memory.
    pub fn open(&self, object: &str, data: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::new();
        self.open_stream(object, data, &mut out, "decrypting", object)?;
        Ok(out)
    }

    /// Seals the file `src` into `dst`.
    pub fn seal_file(&self, src: &Path, dst: &Path) -> Result<(), SealError> {
        let io = |op, p: &Path| {
            let path = p.display().to_string();
            move |source| SealError::Io { op, path, source }
        };
        let input = std::fs::File::open(src).map_err(io("opening", src))?;
        let mut output = std::fs::File::create(dst).map_err(io("creating", dst))?;
        self.seal_stream(std::io::BufReader::new(input), &mut output)
            .map_err(io("sealing into", dst))?;
        output.sync_all().map_err(io("syncing", dst))
    }

    /// Opens the sealed file `src` (object `object`) into `dst`.
    pub fn open_file(&self, object: &str, src: &Path, dst: &Path) -> Result<(), SealError> {
        let io = |op, p: &Path| {
            let path = p.display().to_string();
            move |source| SealError::Io { op, path, source }
        };
        let input = std::fs::File::open(src).map_err(io("opening", src))?;
        let mut output = std::fs::File::create(dst).map_err(io("creating", dst))?;
        let path = dst.display().to_string();
        self.open_stream(
            object,
            std::io::BufReader::new(input),
            &mut output,
            "writing",
            &path,
        )?;
        output.sync_all().map_err(io("syncing", dst))
    }

    fn seal_stream(&self, mut input: impl Read, out: &mut impl Write) -> std::io::Result<()> {
        let (header, cipher) = self.new_header();
        out.write_all(&header)?;
        let mut stream = EncryptorBE32::from_aead(cipher, &Default::default());
        loop {
            let chunk = read_chunk(&mut input, CHUNK)?;
            let payload = Payload {
                msg: &chunk,
                aad: &header,
            };
            // A short (or empty) chunk is the last: a plaintext of whole chunks ends with an empty one.
            if chunk.len() < CHUNK {
                return out.write_all(&stream.encrypt_last(payload).map_err(aead_io)?);
            }
            out.write_all(&stream.encrypt_next(payload).map_err(aead_io)?)?;
        }
    }

    fn open_stream(
        &self,
        object: &str,
        mut input: impl Read,
        out: &mut impl Write,
        op: &'static str,
        path: &str,
    ) -> Result<(), SealError> {
        let read_err = |source| SealError::Io {
            op: "reading",
            path: object.to_string(),
            source,
        };
        let write_err = |source| SealError::Io {
            op,
            path: path.to_string(),
            source,
        };
        let head = read_chunk(&mut input, MAGIC.len() + 1).map_err(read_err)?;
        if head.len() < MAGIC.len() || &head[..MAGIC.len()] != MAGIC {
            if !self.allow_plaintext {
                return Err(SealError::Plaintext {
                    object: object.into(),
                });
            }
            out.write_all(&head).map_err(write_err)?;
            std::io::copy(&mut input, out).map_err(write_err)?;
            return Ok(());
        }
        let malformed = |reason: &str| SealError::Malformed {
            object: object.into(),
            reason: reason.into(),
        };
        let id_len = usize::from(*head.last().ok_or_else(|| malformed("no header"))?);
        let rest = read_chunk(&mut input, id_len + SALT).map_err(read_err)?;
        if rest.len() < id_len + SALT {
            return Err(malformed("header cut short"));
        }
        let key_id = String::from_utf8_lossy(&rest[..id_len]).into_owned();
        let header = [head.as_slice(), rest.as_slice()].concat();
        let cipher =
            self.cipher(&key_id, &rest[id_len..])
                .ok_or_else(|| SealError::UnknownKey {
                    object: object.into(),
                    key_id: key_id.clone(),
                })?;
        let forged = || SealError::Forged {
            object: object.into(),
            key_id: key_id.clone(),
        };
        let mut stream = DecryptorBE32::from_aead(cipher, &Default::default());
        loop {
            let chunk = read_chunk(&mut input, CHUNK + TAG).map_err(read_err)?;
            let payload = Payload {
                msg: &chunk,
                aad: &header,
            };
            if chunk.len() < CHUNK + TAG {
                let plain = stream.decrypt_last(payload).map_err(|_| forged())?;
                return out.write_all(&plain).map_err(write_err);
            }
            let plain = stream.decrypt_next(payload).map_err(|_| forged())?;
            out.write_all(&plain).map_err(write_err)?;
        }
    }

    /// The key id an object was sealed with; None for a plaintext object.
    pub fn key_id_of(data: &[u8]) -> Option<String> {
        let rest = data.strip_prefix(MAGIC)?;
        let (len, rest) = rest.split_first()?;
        let id = rest.get(..usize::from(*len))?;
        Some(String::from_utf8_lossy(id).into_owned())
    }

    /// Whether objects written without encryption may be read.
    pub fn allows_plaintext(&self) -> bool {
        self.allow_plaintext
    }
}

/// Reading an encrypted object without a keyring: the error says which key it needs.
pub fn refuse_sealed(object: &str, data: &[u8]) -> Result<(), SealError> {
    match Keyring::key_id_of(data) {
        Some(key_id) => Err(SealError::NoKeys {
            object: object.into(),
            key_id,
        }),
        None => Ok(()),
    }
}

/// Up to `n` bytes: fewer only at the end of the input.
fn read_chunk(input: &mut impl Read, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n.min(CHUNK + TAG));
    input.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

fn aead_io(_: aes_gcm::aead::Error) -> std::io::Error {
    std::io::Error::other("AES-GCM refused to seal a chunk")
}

#[cfg(test)]
#[path = "sealed_tests.rs"]
mod tests;
