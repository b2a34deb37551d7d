//! Free loopback ports for services, so parallel test binaries never collide.

use std::net::TcpListener;
use std::sync::Mutex;

use crate::TestBedError;

/// Ports handed out by this process; the OS may give the same free port twice between bind and use.
static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// A currently free TCP port on 127.0.0.1 that this process has not handed out before.
pub fn free_port() -> Result<u16, TestBedError> {
    free_port_on(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

/// A port that is free on `ip` (a local address: loopback or the real node's bridge), never handed out before
/// by this process.
pub fn free_port_on(ip: std::net::IpAddr) -> Result<u16, TestBedError> {
    for _ in 0..64 {
        let listener = TcpListener::bind((ip, 0))
            .map_err(TestBedError::io(format!("binding a free port on {ip}")))?;
        let port = listener
            .local_addr()
            .map_err(TestBedError::io("reading a bound port"))?
            .port();
        let mut seen = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if !seen.contains(&port) {
            seen.push(port);
            return Ok(port);
        }
    }
    Err(TestBedError::Env(format!("no free port found on {ip}")))
}
