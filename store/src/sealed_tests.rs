#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const K2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn ring(current: &str) -> Keyring {
    Keyring::from_base64(&[("k1", K1), ("k2", K2)], current, false).unwrap()
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn sealed_objects_open_to_the_same_bytes_at_every_chunk_boundary() {
    let k = ring("k1");
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 17] {
        let plain = sample(len);
        let sealed = k.seal(&plain);
        assert!(sealed.starts_with(MAGIC));
        assert_eq!(Keyring::key_id_of(&sealed).as_deref(), Some("k1"));
        assert_eq!(k.open("o", &sealed).unwrap(), plain, "length {len}");
    }
}

#[test]
fn two_seals_of_the_same_bytes_differ_and_hide_them() {
    let k = ring("k1");
    let plain = b"card-00000042 card-00000042 card-00000042".repeat(100);
    let (a, b) = (k.seal(&plain), k.seal(&plain));
    assert_ne!(a, b, "a fresh salt per object");
    let text = String::from_utf8_lossy(&a);
    assert!(!text.contains("card-"), "plaintext visible");
}

#[test]
fn files_seal_and_open_through_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (src, sealed, opened) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    let plain = sample(3 * CHUNK + 5);
    std::fs::write(&src, &plain).unwrap();
    let k = ring("k2");
    k.seal_file(&src, &sealed).unwrap();
    k.open_file("o", &sealed, &opened).unwrap();
    assert_eq!(std::fs::read(&opened).unwrap(), plain);
    assert_eq!(
        k.open("o", &std::fs::read(&sealed).unwrap()).unwrap(),
        plain
    );
}

#[test]
fn any_change_cut_or_wrong_key_is_refused_by_name() {
    let k = ring("k1");
    let plain = sample(CHUNK + 100);
    let sealed = k.seal(&plain);
    let header = MAGIC.len() + 1 + 2 + SALT;
    for at in [MAGIC.len() + 3, header, header + CHUNK, sealed.len() - 1] {
        let mut bad = sealed.clone();
        bad[at] ^= 1;
        let err = k.open("obj", &bad).unwrap_err();
        assert!(matches!(err, SealError::Forged { .. }), "byte {at}: {err}");
    }
    for cut in [header + CHUNK + TAG, sealed.len() - 1, header + 10] {
        let err = k.open("obj", &sealed[..cut]).unwrap_err();
        assert!(matches!(err, SealError::Forged { .. }), "cut {cut}: {err}");
    }
    // Same id, other bytes: the key was replaced.
    let other = Keyring::from_base64(&[("k1", K2)], "k1", false).unwrap();
    let err = other.open("obj", &sealed).unwrap_err().to_string();
    assert!(err.contains("obj") && err.contains("\"k1\""), "{err}");
    // Rotated away: the old id is gone.
    let rotated = Keyring::from_base64(&[("k2", K2)], "k2", false).unwrap();
    let err = rotated.open("obj", &sealed).unwrap_err();
    assert!(matches!(err, SealError::UnknownKey { .. }), "{err}");
}

#[test]
fn rotation_keeps_old_objects_readable() {
    let old = ring("k1").seal(b"written under k1");
    let k = ring("k2");
    let new = k.seal(b"written under k2");
    assert_eq!(Keyring::key_id_of(&new).as_deref(), Some("k2"));
    assert_eq!(k.open("old", &old).unwrap(), b"written under k1");
    assert_eq!(k.open("new", &new).unwrap(), b"written under k2");
}

#[test]
fn plaintext_is_refused_unless_allowed_and_sealed_objects_need_keys() {
    let err = ring("k1").open("old", b"{\"manifest\": 1}").unwrap_err();
    assert!(matches!(err, SealError::Plaintext { .. }), "{err}");
    assert!(err.to_string().contains("allowPlaintext"), "{err}");
    let lenient = Keyring::from_base64(&[("k1", K1)], "k1", true).unwrap();
    assert_eq!(lenient.open("old", b"{}").unwrap(), b"{}");
    assert_eq!(lenient.open("tiny", b"").unwrap(), b"");
    let sealed = ring("k1").seal(b"x");
    let err = refuse_sealed("o", &sealed).unwrap_err().to_string();
    assert!(
        err.contains("\"k1\"") && err.contains("encryptionKeysSecret"),
        "{err}"
    );
    assert!(refuse_sealed("o", b"plain").is_ok());
}

#[test]
fn key_files_load_from_a_secret_volume_and_bad_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("2026-12"), format!("{K1}\n")).unwrap();
    std::fs::create_dir(dir.path().join("..data")).unwrap();
    let k = Keyring::load(dir.path(), "2026-12", false).unwrap();
    assert_eq!(k.current_key_id(), "2026-12");
    assert!(!format!("{k:?}").contains(K1));
    let err = Keyring::load(dir.path(), "2027-01", false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("2027-01") && err.contains("currentKey"),
        "{err}"
    );
    std::fs::write(dir.path().join("short"), "AAEC").unwrap();
    let err = Keyring::load(dir.path(), "2026-12", false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"short\"") && err.contains("32"), "{err}");
    std::fs::write(dir.path().join("short"), "not base64!").unwrap();
    let err = Keyring::load(dir.path(), "2026-12", false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("base64"), "{err}");
}
