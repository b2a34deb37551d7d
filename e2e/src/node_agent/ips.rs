//! Pod IPs: each running pod gets its own loopback address 127.0.0.N (N = 2..=254), so several pods can listen
//! on the same port as they would in a cluster. Linux routes all of 127.0.0.0/8 to `lo` without set-up.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

/// A shared pool of loopback addresses. 127.0.0.1 stays the node's own address.
#[derive(Debug, Clone, Default)]
pub struct IpPool {
    taken: Arc<Mutex<BTreeSet<u8>>>,
}

impl IpPool {
    /// The lowest free address, or `None` when all 253 are in use.
    pub fn allocate(&self) -> Option<Ipv4Addr> {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        let n = (2..=254u8).find(|n| !taken.contains(n))?;
        taken.insert(n);
        Some(Ipv4Addr::new(127, 0, 0, n))
    }

    /// Returns an address to the pool (a no-op for addresses it did not hand out).
    pub fn release(&self, ip: Ipv4Addr) {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        taken.remove(&ip.octets()[3]);
    }
}

#[cfg(test)]
mod tests {
    use super::IpPool;
    use std::net::Ipv4Addr;

    #[test]
    fn allocates_lowest_free_and_reuses_released() {
        let pool = IpPool::default();
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(127, 0, 0, 3)));
        pool.release(Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(pool.allocate(), Some(Ipv4Addr::new(127, 0, 0, 2)));
        for _ in 4..=254 {
            assert!(pool.allocate().is_some());
        }
        assert_eq!(pool.allocate(), None);
    }
}
