//! Fingerprints: what the oracle keeps of an expected record when a run is too long to keep the records.
//!
//! Two records have equal fingerprints exactly when they are equal field by field after parsing (§8): object
//! keys are taken in sorted order whatever order the producer wrote them in, and every value carries its
//! type, so `1`, `1.0` and `"1"` differ as they do in the contract. 128 bits of SHA-256 make an accidental
//! collision among a few hundred million records far less likely than a disk error.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The first 16 bytes of a SHA-256.
pub type Fingerprint = [u8; 16];

/// The fingerprint of a parsed record.
pub fn fingerprint(value: &Value) -> Fingerprint {
    let mut hasher = Sha256::new();
    feed(&mut hasher, value);
    truncate(hasher)
}

/// The fingerprint of an authorization's `txn_id`, the key decisions and alerts are checked by.
pub fn txn_key(txn_id: &str) -> Fingerprint {
    let mut hasher = Sha256::new();
    text(&mut hasher, txn_id);
    truncate(hasher)
}

fn truncate(hasher: Sha256) -> Fingerprint {
    let digest = hasher.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Strings are length-prefixed, so no two different values feed the same bytes.
fn text(hasher: &mut Sha256, s: &str) {
    hasher.update((s.len() as u64).to_le_bytes());
    hasher.update(s.as_bytes());
}

fn feed(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Null => hasher.update(b"n"),
        Value::Bool(b) => hasher.update(if *b { b"t" } else { b"f" }),
        Value::Number(n) => {
            hasher.update(b"#");
            text(hasher, &n.to_string());
        }
        Value::String(s) => {
            hasher.update(b"s");
            text(hasher, s);
        }
        Value::Array(items) => {
            hasher.update(b"[");
            hasher.update((items.len() as u64).to_le_bytes());
            items.iter().for_each(|v| feed(hasher, v));
        }
        Value::Object(map) => {
            hasher.update(b"{");
            hasher.update((map.len() as u64).to_le_bytes());
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (k, v) in fields {
                text(hasher, k);
                feed(hasher, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_after_parsing_means_equal_fingerprints() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":[true,null,"x"]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "b": [true, null, "x"], "a": 1 }"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        for other in [
            json!({"a": 1.0, "b": [true, null, "x"]}),
            json!({"a": "1", "b": [true, null, "x"]}),
            json!({"a": 1, "b": [true, null]}),
            json!({"a": 1, "b": [true, null, "x"], "c": null}),
            json!({"a": 1, "b": [null, true, "x"]}),
            json!({"ab": 1, "b": [true, null, "x"]}),
        ] {
            assert_ne!(fingerprint(&a), fingerprint(&other), "{other}");
        }
        assert_ne!(txn_key("t1"), txn_key("t10"));
        assert_eq!(txn_key("t1"), txn_key("t1"));
    }
}
