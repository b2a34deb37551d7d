//! The operator's control CA: a self-signed ECDSA P-256 CA kept in one Secret of the operator's namespace,
//! from which every job's control certificate is issued. It lives a year and is replaced when a third of
//! that is left; the replaced CA stays trusted (and is kept in the Secret) until it expires, so the
//! certificates it issued keep working while the jobs' certificates are renewed under the new one.

use std::collections::BTreeMap;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Seconds in a day.
pub const DAY: i64 = 86_400;
/// How long a CA is valid.
pub const CA_LIFETIME: i64 = 365 * DAY;
/// Certificates are dated this far back, so a node whose clock lags a little still accepts them.
pub const BACKDATE: i64 = 3_600;

/// Keys of the CA Secret.
pub const CA_CERT_KEY: &str = "ca.crt";
pub const CA_KEY_KEY: &str = "ca.key";
pub const PREVIOUS_CERT_KEY: &str = "previous.crt";

/// A certificate or key that could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("generating {what}: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("the control CA Secret has no usable {key}: {message}")]
    Stored { key: &'static str, message: String },
}

fn generating(what: &'static str) -> impl FnOnce(rcgen::Error) -> PkiError {
    move |source| PkiError::Generate { what, source }
}

/// Unix seconds as rcgen's date type (clamped to its range).
pub fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The expiry of the certificate in `pem`, in unix seconds.
pub fn not_after(pem: &str) -> Option<i64> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use x509_parser::prelude::FromDer;
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// The wall clock in unix seconds: certificates are dated by it (nothing in processing depends on it).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A short, stable id of a certificate (16 hex digits of the SHA-256 of its PEM).
pub fn certificate_id(pem: &str) -> String {
    hex::encode(Sha256::digest(pem.as_bytes()))[..16].to_string()
}

/// The CA in use, and the one it replaced while that is still valid.
#[derive(Clone)]
pub struct ControlCa {
    pub cert_pem: String,
    key_pem: String,
    pub not_after: i64,
    pub previous: Option<(String, i64)>,
}

impl std::fmt::Debug for ControlCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlCa")
            .field("id", &self.id())
            .field("not_after", &self.not_after)
            .field(
                "previous",
                &self.previous.as_ref().map(|(p, t)| (certificate_id(p), t)),
            )
            .finish_non_exhaustive()
    }
}

/// What to do with the stored CA.
#[derive(Debug, PartialEq, Eq)]
pub enum CaPlan {
    Keep,
    /// A third or less of its life is left (or it is gone): make the next one.
    Rotate,
}

impl ControlCa {
    /// A new CA valid from `now`; `replacing` (if any) stays trusted as the previous one.
    pub fn generate(now: i64, replacing: Option<&ControlCa>) -> Result<ControlCa, PkiError> {
        let key = KeyPair::generate().map_err(generating("the control CA key"))?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("sluice control CA {now}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = at(now - BACKDATE);
        params.not_after = at(now + CA_LIFETIME);
        let cert = params
            .self_signed(&key)
            .map_err(generating("the control CA certificate"))?;
        Ok(ControlCa {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            not_after: now + CA_LIFETIME,
            previous: replacing
                .filter(|old| old.not_after > now)
                .map(|old| (old.cert_pem.clone(), old.not_after)),
        })
    }

    /// Reads the Secret's data.
    pub fn from_data(data: &BTreeMap<String, Vec<u8>>) -> Result<ControlCa, PkiError> {
        let text = |key: &'static str| -> Result<String, PkiError> {
            let bytes = data.get(key).ok_or(PkiError::Stored {
                key,
                message: "missing".into(),
            })?;
            String::from_utf8(bytes.clone()).map_err(|_| PkiError::Stored {
                key,
                message: "not UTF-8 PEM".into(),
            })
        };
        let cert_pem = text(CA_CERT_KEY)?;
        let key_pem = text(CA_KEY_KEY)?;
        let expiry = not_after(&cert_pem).ok_or(PkiError::Stored {
            key: CA_CERT_KEY,
            message: "not a PEM certificate".into(),
        })?;
        let previous = text(PREVIOUS_CERT_KEY)
            .ok()
            .and_then(|pem| not_after(&pem).map(|t| (pem, t)));
        let ca = ControlCa {
            cert_pem,
            key_pem,
            not_after: expiry,
            previous,
        };
        // The key must be this certificate's, or every job certificate would fail to verify.
        // (A moment inside the CA's validity, whatever the clock says.)
        let t = ca.not_after - DAY;
        let probe = super::leaf::issue(&ca, "sluice", "key-check", t)?;
        if !super::leaf::verifies(&probe.cert_pem, &ca.cert_pem, "sluice", "key-check", t) {
            return Err(PkiError::Stored {
                key: CA_KEY_KEY,
                message: "the key does not belong to ca.crt".into(),
            });
        }
        Ok(ca)
    }

    /// The Secret's data.
    pub fn to_data(&self) -> BTreeMap<String, Vec<u8>> {
        let mut data = BTreeMap::from([
            (CA_CERT_KEY.to_string(), self.cert_pem.clone().into_bytes()),
            (CA_KEY_KEY.to_string(), self.key_pem.clone().into_bytes()),
        ]);
        if let Some((pem, _)) = &self.previous {
            data.insert(PREVIOUS_CERT_KEY.to_string(), pem.clone().into_bytes());
        }
        data
    }

    pub fn id(&self) -> String {
        certificate_id(&self.cert_pem)
    }

    pub fn plan(&self, now: i64) -> CaPlan {
        if self.not_after - now <= CA_LIFETIME / 3 {
            CaPlan::Rotate
        } else {
            CaPlan::Keep
        }
    }

    /// The CAs a worker certificate may chain to at `now`: this one, and the previous while it is valid.
    pub fn trust_bundle(&self, now: i64) -> String {
        let mut bundle = self.cert_pem.clone();
        if let Some((pem, until)) = &self.previous
            && *until > now
        {
            bundle.push_str(pem);
        }
        bundle
    }

    /// The signer of job certificates.
    pub fn issuer(&self) -> Result<Issuer<'static, KeyPair>, PkiError> {
        let key = KeyPair::from_pem(&self.key_pem).map_err(|e| PkiError::Stored {
            key: CA_KEY_KEY,
            message: e.to_string(),
        })?;
        Issuer::from_ca_cert_pem(&self.cert_pem, key).map_err(|e| PkiError::Stored {
            key: CA_CERT_KEY,
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_ca_round_trips_through_its_secret_data() {
        let ca = ControlCa::generate(NOW, None).unwrap();
        let back = ControlCa::from_data(&ca.to_data()).unwrap();
        assert_eq!(back.cert_pem, ca.cert_pem);
        assert_eq!(back.not_after, NOW + CA_LIFETIME);
        assert!(back.previous.is_none());
        assert!(!format!("{back:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn a_key_of_another_ca_or_a_missing_key_is_refused() {
        let (a, b) = (
            ControlCa::generate(NOW, None).unwrap(),
            ControlCa::generate(NOW, None).unwrap(),
        );
        let mut data = a.to_data();
        data.insert(CA_KEY_KEY.into(), b.to_data()[CA_KEY_KEY].clone());
        let err = ControlCa::from_data(&data).unwrap_err().to_string();
        assert!(err.contains("does not belong"), "{err}");
        data.remove(CA_KEY_KEY);
        let err = ControlCa::from_data(&data).unwrap_err().to_string();
        assert!(err.contains("ca.key"), "{err}");
    }

    #[test]
    fn rotation_starts_with_a_third_of_the_life_left_and_keeps_the_old_ca_trusted() {
        let ca = ControlCa::generate(NOW, None).unwrap();
        assert_eq!(ca.plan(NOW), CaPlan::Keep);
        let late = NOW + CA_LIFETIME * 2 / 3 + DAY;
        assert_eq!(ca.plan(late), CaPlan::Rotate);
        let next = ControlCa::generate(late, Some(&ca)).unwrap();
        assert_eq!(next.plan(late), CaPlan::Keep);
        let bundle = next.trust_bundle(late);
        assert!(bundle.contains(&ca.cert_pem) && bundle.contains(&next.cert_pem));
        let back = ControlCa::from_data(&next.to_data()).unwrap();
        assert_eq!(back.previous.as_ref().map(|p| p.1), Some(ca.not_after));
        // Once the old CA expired it is no longer trusted, nor carried into the next rotation.
        assert!(!next.trust_bundle(ca.not_after + 1).contains(&ca.cert_pem));
        let after = ControlCa::generate(ca.not_after + 1, Some(&next)).unwrap();
        assert_eq!(after.previous.map(|p| p.0), Some(next.cert_pem));
    }
}
