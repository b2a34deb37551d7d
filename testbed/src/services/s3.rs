//! An S3-compatible object store on loopback (or the real node's bridge address): `s3s-fs`, a real S3 HTTP server that stores objects in a local
//! directory (SigV4 auth, path-style, multipart). Data survives a stop/start, which the S3-outage tests need.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::TestBedError;
use crate::install::ensure_s3s_fs;
use crate::ports::free_port_on;
use crate::process::{ManagedProcess, accepts_tcp};
use crate::testbed::{S3_ACCESS_KEY, S3_SECRET_KEY};

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or stopped, restartable) S3 server over `dir/data`.
#[derive(Debug)]
pub struct S3Server {
    dir: PathBuf,
    host: IpAddr,
    port: u16,
    process: Option<ManagedProcess>,
    remove_dir_on_drop: bool,
    /// The one access key pair the server accepts.
    keys: (String, String),
}

impl S3Server {
    /// Starts a server over a fresh data directory under `dir` on a free loopback port.
    pub fn start(dir: &Path) -> Result<S3Server, TestBedError> {
        S3Server::start_on(dir, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Starts a server over a fresh data directory under `dir` on a free port of `host` (a local address).
    pub fn start_on(dir: &Path, host: IpAddr) -> Result<S3Server, TestBedError> {
        ensure_s3s_fs()?;
        std::fs::create_dir_all(dir.join("data"))
            .map_err(TestBedError::io(format!("creating {}", dir.display())))?;
        let mut server = S3Server {
            dir: dir.to_path_buf(),
            host,
            port: free_port_on(host)?,
            process: None,
            remove_dir_on_drop: true,
            keys: (S3_ACCESS_KEY.into(), S3_SECRET_KEY.into()),
        };
        server.start_again()?;
        Ok(server)
    }

    /// Keeps the data directory when this handle is dropped.
    pub fn keep_dir(mut self) -> Self {
        self.remove_dir_on_drop = false;
        self
    }

    /// `http://HOST:PORT`, for a path-style S3 client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", SocketAddr::new(self.host, self.port))
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ManagedProcess::pid)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("s3.log")
    }

    /// Starts the server process over the existing data (same port) and waits until it accepts connections.
    pub fn start_again(&mut self) -> Result<(), TestBedError> {
        if self.process.is_some() {
            return Ok(());
        }
        let mut cmd = Command::new(crate::install::s3s_fs_bin());
        cmd.arg("--host")
            .arg(self.host.to_string())
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--access-key")
            .arg(&self.keys.0)
            .arg("--secret-key")
            .arg(&self.keys.1)
            .arg(self.dir.join("data"))
            .env("RUST_LOG", "s3s_fs=info,s3s=warn");
        let mut process = ManagedProcess::spawn("s3s-fs", cmd, &self.log_path())?;
        let addr = SocketAddr::new(self.host, self.port);
        process.wait_until(START_TIMEOUT, |_| accepts_tcp(addr))?;
        self.process = Some(process);
        Ok(())
    }

    /// Restarts the server accepting only the pair `access`/`secret` (a key rotation: the server holds one
    /// pair, so the old one stops working at once).
    pub fn rotate_keys(&mut self, access: &str, secret: &str) -> Result<(), TestBedError> {
        self.stop();
        self.keys = (access.into(), secret.into());
        self.start_again()
    }

    /// Kills the server (an outage); objects stay on disk for [`S3Server::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
        if self.remove_dir_on_drop {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
