//! The names a worker's control certificate is verified against (the operator issues it, see
//! `operator/src/control_tls`; the operator and the CLI verify it).
//!
//! A pod's IP is known only after its certificate was issued, and is reused by other pods later, so the
//! certificate names the *job*: `*.<job id>.workers.sluice.internal`, where the job id is a hash of its
//! namespace and name. The operator calls a worker at `https://<ip in hex>.<job id>.workers.sluice.internal`,
//! and its resolver ([`WorkerResolver`]) turns that name back into the IP without any DNS. A worker of
//! another job (or any other process that took over the IP) cannot present a certificate for this name, so
//! the job's token is never sent to it. `.internal` is reserved for private use and never resolves publicly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sha2::{Digest, Sha256};

/// The suffix of every worker name.
pub const DOMAIN: &str = "workers.sluice.internal";

/// `<job id>.workers.sluice.internal`: the 16 hex digits of SHA-256 of `namespace/name`, a valid DNS label
/// whatever the job's name length.
pub fn job_domain(namespace: &str, job: &str) -> String {
    let digest = Sha256::digest(format!("{namespace}/{job}").as_bytes());
    let id = hex::encode(digest);
    format!("{}.{DOMAIN}", &id[..16])
}

/// The name a certificate for the job holds: one label of any worker IP under the job's domain.
pub fn certificate_name(namespace: &str, job: &str) -> String {
    format!("*.{}", job_domain(namespace, job))
}

/// The name the operator calls the worker at `ip` by: the IP's bytes in hex (8 digits for IPv4, 32 for
/// IPv6) under the job's domain. `None` for text that is not an IP.
pub fn worker_host(namespace: &str, job: &str, ip: &str) -> Option<String> {
    let label = match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => hex::encode(v4.octets()),
        IpAddr::V6(v6) => hex::encode(v6.octets()),
    };
    Some(format!("{label}.{}", job_domain(namespace, job)))
}

/// The IP a worker name stands for; `None` for any other name.
pub fn ip_of(host: &str) -> Option<IpAddr> {
    let rest = host.strip_suffix(DOMAIN)?.strip_suffix('.')?;
    let (label, job_id) = rest.split_once('.')?;
    if job_id.len() != 16 || job_id.contains('.') {
        return None;
    }
    let bytes = hex::decode(label).ok()?;
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes.as_slice())
            .ok()
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        16 => <[u8; 16]>::try_from(bytes.as_slice())
            .ok()
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

/// reqwest's resolver for worker names: the IP comes from the name itself; any other name is an error, so
/// the client made for workers can reach nothing else.
#[cfg(feature = "client")]
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerResolver;

#[cfg(feature = "client")]
impl reqwest::dns::Resolve for WorkerResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let found = ip_of(name.as_str());
        let host = name.as_str().to_string();
        Box::pin(async move {
            match found {
                // The connector puts the URL's port in.
                Some(ip) => {
                    let addrs: reqwest::dns::Addrs =
                        Box::new(std::iter::once(std::net::SocketAddr::new(ip, 0)));
                    Ok(addrs)
                }
                None => Err(format!("{host} is not a worker name under {DOMAIN}").into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_names_round_trip_their_ip_for_both_families() {
        for ip in ["10.244.0.7", "127.0.0.1", "fd00:10:244::7", "::1"] {
            let host = worker_host("fraud", "scoring", ip).unwrap();
            assert!(host.ends_with(&job_domain("fraud", "scoring")), "{host}");
            assert_eq!(ip_of(&host), Some(ip.parse().unwrap()), "{host}");
            assert!(host.split('.').all(|l| !l.is_empty() && l.len() <= 63));
        }
        assert_eq!(worker_host("fraud", "scoring", "not-an-ip"), None);
    }

    #[test]
    fn the_job_domain_separates_jobs_and_namespaces() {
        let a = job_domain("fraud", "scoring");
        assert_ne!(a, job_domain("fraud", "scoring2"));
        assert_ne!(a, job_domain("fraud2", "scoring"));
        // The separator is part of the hash input: "a/bc" and "ab/c" differ.
        assert_ne!(job_domain("a", "bc"), job_domain("ab", "c"));
        let long = "x".repeat(253);
        assert_eq!(job_domain("ns", &long).len(), 16 + 1 + DOMAIN.len());
        assert_eq!(certificate_name("fraud", "scoring"), format!("*.{a}"));
    }

    #[test]
    fn other_names_do_not_resolve() {
        let good = worker_host("fraud", "scoring", "10.0.0.1").unwrap();
        for bad in [
            "example.com",
            DOMAIN,
            "0a000001.workers.sluice.internal",
            "zz000001.0123456789abcdef.workers.sluice.internal",
            "0a0000.0123456789abcdef.workers.sluice.internal",
            "a.0a000001.0123456789abcdef.workers.sluice.internal",
        ] {
            assert_eq!(ip_of(bad), None, "{bad}");
        }
        assert!(ip_of(&good).is_some());
    }
}
