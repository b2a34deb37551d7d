//! Where a [`Keyring`]'s master keys come from: files of a mounted Secret (one per key id, 32 bytes in
//! base64), chosen by a job's `state.encryption` and the directory in `SLUICE_STATE_KEYS_DIR`.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;

use crate::sealed::{Keyring, MasterKey, SealError};

impl Keyring {
    /// The keys in `dir` (a mounted Secret: one file per key id, holding 32 bytes in base64, e.g. from
    /// `openssl rand -base64 32`); `current` names the one that seals new objects. Files whose names start
    /// with `.` (the Secret volume's own bookkeeping) are skipped.
    pub fn load(dir: &Path, current: &str, allow_plaintext: bool) -> Result<Keyring, SealError> {
        let keys = read_key_dir(dir)?;
        Keyring::from_keys(keys, current, allow_plaintext).map_err(|reason| SealError::Keyring {
            dir: dir.display().to_string(),
            reason,
        })
    }

    /// Every key in `dir`, for a tool that only reads snapshots (plain ones too); the first id seals.
    pub fn load_for_reading(dir: &Path) -> Result<Keyring, SealError> {
        let keys = read_key_dir(dir)?;
        let first = keys
            .keys()
            .next()
            .cloned()
            .ok_or_else(|| SealError::Keyring {
                dir: dir.display().to_string(),
                reason: "holds no key files".into(),
            })?;
        Keyring::load(dir, &first, true)
    }

    /// A keyring from `(key id, base64 key)` pairs.
    pub fn from_base64(
        keys: &[(&str, &str)],
        current: &str,
        allow_plaintext: bool,
    ) -> Result<Keyring, String> {
        let mut map = BTreeMap::new();
        for (id, text) in keys {
            map.insert((*id).to_string(), decode_key(id, text)?);
        }
        Keyring::from_keys(map, current, allow_plaintext)
    }
}

/// The keyring a job's `state.encryption` asks for, from the directory in `SLUICE_STATE_KEYS_DIR`; None when
/// the job does not encrypt its state.
pub fn job_keyring(
    encryption: Option<&sluice_api::job_config::StateEncryption>,
    keys_dir: Option<&Path>,
) -> Result<Option<Keyring>, SealError> {
    let Some(enc) = encryption else {
        return Ok(None);
    };
    let dir = keys_dir.ok_or_else(|| SealError::Keyring {
        dir: format!("${}", sluice_api::worker_env::STATE_KEYS_DIR),
        reason: "state.encryption is set but no key directory is given: mount the keys Secret \
                 (spec.storage.encryptionKeysSecret) or set the variable to a directory of key files"
            .into(),
    })?;
    Keyring::load(dir, &enc.current_key, enc.allow_plaintext).map(Some)
}

/// [`job_keyring`] with the key directory from this process's environment.
pub fn job_keyring_from_env(
    encryption: Option<&sluice_api::job_config::StateEncryption>,
) -> Result<Option<Keyring>, SealError> {
    let dir = std::env::var_os(sluice_api::worker_env::STATE_KEYS_DIR).filter(|d| !d.is_empty());
    job_keyring(encryption, dir.as_deref().map(Path::new))
}

/// [`Keyring::load_for_reading`] from the directory in `SLUICE_STATE_KEYS_DIR`; None when it is unset.
pub fn reading_keyring_from_env() -> Result<Option<Keyring>, SealError> {
    std::env::var_os(sluice_api::worker_env::STATE_KEYS_DIR)
        .filter(|d| !d.is_empty())
        .map(|d| Keyring::load_for_reading(Path::new(&d)))
        .transpose()
}

/// The key files of `dir` by id; files whose names start with `.` are the Secret volume's bookkeeping.
fn read_key_dir(dir: &Path) -> Result<BTreeMap<String, MasterKey>, SealError> {
    let bad = |reason: String| SealError::Keyring {
        dir: dir.display().to_string(),
        reason,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| bad(format!("cannot list: {e}")))?;
    let mut keys = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| bad(format!("cannot list: {e}")))?;
        let id = entry.file_name().to_string_lossy().into_owned();
        if id.starts_with('.') {
            continue;
        }
        let text = std::fs::read_to_string(entry.path())
            .map_err(|e| bad(format!("cannot read key {id:?}: {e}")))?;
        keys.insert(id.clone(), decode_key(&id, text.trim()).map_err(bad)?);
    }
    Ok(keys)
}

fn decode_key(id: &str, text: &str) -> Result<MasterKey, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| {
            format!("key {id:?} is not base64 (make one with `openssl rand -base64 32`)")
        })?;
    let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        format!(
            "key {id:?} is {} bytes; AES-256 needs 32 (make one with `openssl rand -base64 32`)",
            b.len()
        )
    })?;
    Ok(MasterKey(key))
}
