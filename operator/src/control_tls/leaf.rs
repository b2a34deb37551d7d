//! A job's control certificate: issued by the control CA for the job's name ([`super::host`]), valid for
//! 30 days and renewed when a third of that is left, when the CA rotated, or when its Secret lost a piece.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::ca::{BACKDATE, ControlCa, DAY, PkiError, at};
use sluice_crds::worker_names as host;

/// How long a job certificate is valid.
pub const LEAF_LIFETIME: i64 = 30 * DAY;

/// A certificate and key for one job's workers.
pub struct JobCertificate {
    pub cert_pem: String,
    pub key_pem: String,
    /// The id of the CA that signed it ([`ControlCa::id`]).
    pub ca_id: String,
    pub not_after: i64,
}

impl std::fmt::Debug for JobCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobCertificate")
            .field("ca_id", &self.ca_id)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Issues the certificate of job `namespace/job` at `now`.
pub fn issue(
    ca: &ControlCa,
    namespace: &str,
    job: &str,
    now: i64,
) -> Result<JobCertificate, PkiError> {
    let generating = |what| move |source| PkiError::Generate { what, source };
    let key = KeyPair::generate().map_err(generating("a job certificate key"))?;
    let mut params = CertificateParams::new(vec![host::certificate_name(namespace, job)])
        .map_err(generating("a job certificate name"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{namespace}/{job} workers"));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = at(now - BACKDATE);
    params.not_after = at(now + LEAF_LIFETIME);
    let issuer = ca.issuer()?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(generating("a job certificate"))?;
    Ok(JobCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        ca_id: ca.id(),
        not_after: now + LEAF_LIFETIME,
    })
}

/// Whether `cert_pem` verifies, for the job's worker names at `now`, against the CAs in `trusted_pem`: the
/// check the operator's TLS client makes on every connection.
pub fn verifies(cert_pem: &str, trusted_pem: &str, namespace: &str, job: &str, now: i64) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(trusted_pem.as_bytes()).flatten() {
        let _ = roots.add(der);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(verifier) =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
    else {
        return false;
    };
    let (Ok(leaf), Some(name)) = (
        CertificateDer::from_pem_slice(cert_pem.as_bytes()),
        host::worker_host(namespace, job, "10.0.0.1"),
    ) else {
        return false;
    };
    let Ok(name) = ServerName::try_from(name) else {
        return false;
    };
    let time = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(now).unwrap_or(0)));
    verifier
        .verify_server_cert(&leaf, &[], &name, &[], time)
        .is_ok()
}

/// What the job's Secret holds now, as far as renewal cares.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The CA id recorded when it was issued.
    pub ca_id: Option<String>,
    /// Parsed from its certificate.
    pub not_after: Option<i64>,
    /// Certificate, key and CA bundle all present.
    pub complete: bool,
    /// Carries the bundle the operator trusts now.
    pub current_bundle: bool,
}

/// Why the job needs a new certificate (or the bundle rewritten), if it does.
pub fn renewal(observed: Option<&Observed>, ca: &ControlCa, now: i64) -> Option<&'static str> {
    let Some(o) = observed else {
        return Some("issued");
    };
    if !o.complete {
        return Some("incomplete Secret");
    }
    if o.ca_id.as_deref() != Some(ca.id().as_str()) {
        return Some("CA rotated");
    }
    match o.not_after {
        None => Some("unreadable certificate"),
        Some(t) if t - now <= LEAF_LIFETIME / 3 => Some("expiring"),
        Some(_) if !o.current_bundle => Some("CA bundle changed"),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_job_certificate_verifies_for_its_job_only() {
        let ca = ControlCa::generate(NOW, None).unwrap();
        let cert = issue(&ca, "fraud", "scoring", NOW).unwrap();
        let trusted = ca.trust_bundle(NOW);
        assert!(verifies(&cert.cert_pem, &trusted, "fraud", "scoring", NOW));
        assert!(!verifies(&cert.cert_pem, &trusted, "fraud", "other", NOW));
        assert!(!verifies(&cert.cert_pem, &trusted, "other", "scoring", NOW));
        assert!(!verifies(
            &cert.cert_pem,
            &trusted,
            "fraud",
            "scoring",
            NOW + LEAF_LIFETIME + 1
        ));
        let stranger = ControlCa::generate(NOW, None).unwrap();
        assert!(!verifies(
            &cert.cert_pem,
            &stranger.trust_bundle(NOW),
            "fraud",
            "scoring",
            NOW
        ));
        assert!(!format!("{cert:?}").contains("PRIVATE"));
    }

    #[test]
    fn certificates_of_the_replaced_ca_stay_valid_until_renewed() {
        let old = ControlCa::generate(NOW, None).unwrap();
        let cert = issue(&old, "fraud", "scoring", NOW).unwrap();
        let later = NOW + 250 * DAY;
        let next = ControlCa::generate(later, Some(&old)).unwrap();
        assert!(verifies(
            &cert.cert_pem,
            &next.trust_bundle(NOW),
            "fraud",
            "scoring",
            NOW
        ));
        let renewed = issue(&next, "fraud", "scoring", later).unwrap();
        assert!(verifies(
            &renewed.cert_pem,
            &next.trust_bundle(later),
            "fraud",
            "scoring",
            later
        ));
    }

    #[test]
    fn renewal_reasons() {
        let ca = ControlCa::generate(NOW, None).unwrap();
        let fresh = Observed {
            ca_id: Some(ca.id()),
            not_after: Some(NOW + LEAF_LIFETIME),
            complete: true,
            current_bundle: true,
        };
        assert_eq!(renewal(Some(&fresh), &ca, NOW), None);
        assert_eq!(renewal(None, &ca, NOW), Some("issued"));
        let t = NOW + LEAF_LIFETIME * 2 / 3 + 1;
        assert_eq!(renewal(Some(&fresh), &ca, t), Some("expiring"));
        let other_ca = Observed {
            ca_id: Some("0".into()),
            ..fresh.clone()
        };
        assert_eq!(renewal(Some(&other_ca), &ca, NOW), Some("CA rotated"));
        let partial = Observed {
            complete: false,
            ..fresh.clone()
        };
        assert_eq!(renewal(Some(&partial), &ca, NOW), Some("incomplete Secret"));
        let stale_bundle = Observed {
            current_bundle: false,
            ..fresh.clone()
        };
        assert_eq!(
            renewal(Some(&stale_bundle), &ca, NOW),
            Some("CA bundle changed")
        );
        let unreadable = Observed {
            not_after: None,
            ..fresh
        };
        assert_eq!(
            renewal(Some(&unreadable), &ca, NOW),
            Some("unreadable certificate")
        );
    }
}
