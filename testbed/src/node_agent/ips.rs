//! Pod IPs: each running pod gets its own loopback address 127.0.0.N (N = 2..=254), so several pods can listen
//! on the same port as they would in a cluster. Linux routes all of 127.0.0.0/8 to `lo` without set-up.
//!
//! Addresses are claimed machine-wide, not only within one agent: each claim is a file
//! `<run root>/pod-ips/127.0.0.N` holding the claiming process id, created atomically. Two agents — in one test
//! process or in two test binaries running at once — therefore never hand out the same address. A claim whose
//! process is gone (a killed test) is taken over.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A pool of loopback addresses. 127.0.0.1 stays the node's own address.
#[derive(Debug, Clone)]
pub struct IpPool {
    taken: Arc<Mutex<BTreeSet<u8>>>,
    claims: PathBuf,
}

impl Default for IpPool {
    fn default() -> IpPool {
        IpPool::in_dir(crate::cache::run_root().join("pod-ips"))
    }
}

impl IpPool {
    /// A pool whose machine-wide claims live in `claims`.
    pub fn in_dir(claims: PathBuf) -> IpPool {
        IpPool {
            taken: Arc::default(),
            claims,
        }
    }

    /// The lowest address free on this machine, or `None` when all 253 are in use.
    pub fn allocate(&self) -> Option<Ipv4Addr> {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        let _ = std::fs::create_dir_all(&self.claims);
        let n = (2..=254u8).find(|n| !taken.contains(n) && self.claim(*n))?;
        taken.insert(n);
        Some(Ipv4Addr::new(127, 0, 0, n))
    }

    /// Returns an address to the pool (a no-op for addresses it did not hand out).
    pub fn release(&self, ip: Ipv4Addr) {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        if taken.remove(&ip.octets()[3]) {
            let _ = std::fs::remove_file(self.claims.join(ip.to_string()));
        }
    }

    /// Claims 127.0.0.`n` machine-wide: creates its claim file, or takes over one whose process is gone.
    fn claim(&self, n: u8) -> bool {
        let path = self.claims.join(Ipv4Addr::new(127, 0, 0, n).to_string());
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write as _;
                    return f
                        .write_all(std::process::id().to_string().as_bytes())
                        .is_ok();
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path).unwrap_or_default();
                    let alive = owner
                        .trim()
                        .parse::<u32>()
                        .is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
                    // An empty file is a claim being written right now: leave it.
                    if alive || owner.is_empty() {
                        return false;
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(_) => return false,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::IpPool;
    use std::net::Ipv4Addr;

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("sluice-ips-{}", crate::unique_name("t")));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn allocates_lowest_free_and_reuses_released() {
        let pool = IpPool::in_dir(dir());
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(127, 0, 0, 3)));
        pool.release(Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(127, 0, 0, 2)));
        for _ in 4..=254 {
            assert!(pool.allocate().is_some());
        }
        assert_eq!(pool.allocate(), None);
    }

    #[test]
    fn two_pools_sharing_claims_never_hand_out_the_same_address() {
        let d = dir();
        let (a, b) = (IpPool::in_dir(d.clone()), IpPool::in_dir(d.clone()));
        assert_eq!(a.allocate(), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(b.allocate(), Some(Ipv4Addr::new(127, 0, 0, 3)));
        a.release(Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(b.allocate(), Some(Ipv4Addr::new(127, 0, 0, 2)));
        // A claim left by a process that no longer exists is taken over.
        std::fs::write(d.join("127.0.0.4"), "4194304000").unwrap();
        assert_eq!(a.allocate(), Some(Ipv4Addr::new(127, 0, 0, 4)));
    }
}
