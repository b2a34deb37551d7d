//! The real node's OCI registry: distribution v3's `cmd/registry`, built from the Go module in
//! `testbed/registry/` (cached once), listening on the bridge's host address. Images are pushed to it with
//! skopeo and the kubelet pulls them through containerd, the path users have; containerd reaches it over
//! plain HTTP through a `hosts.toml` ([`hosts_toml`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::TestBedError;
use crate::cache::{cache_root, testbed_dir};
use crate::ports::free_port_on;
use crate::process::{ManagedProcess, accepts_tcp};

/// The distribution release `testbed/registry/go.mod` requires.
pub const REGISTRY_VERSION: &str = "v3.1.2";
const START_TIMEOUT: Duration = Duration::from_secs(30);

fn bin_dir() -> PathBuf {
    cache_root().join(format!("registry-{REGISTRY_VERSION}"))
}

/// Builds `registry` unless a finished build is cached; returns its path.
pub fn ensure_registry() -> Result<PathBuf, TestBedError> {
    let dir = crate::once::create_once(&bin_dir(), REGISTRY_VERSION, |staging| {
        let mut cmd = Command::new("go");
        cmd.current_dir(testbed_dir().join("registry"))
            .args(["build", "-trimpath", "-ldflags=-s -w", "-o"])
            .arg(staging.join("registry"))
            .arg("github.com/distribution/distribution/v3/cmd/registry")
            .env("GOFLAGS", "-mod=readonly -buildvcs=false");
        crate::install::run(cmd)
    })?;
    Ok(dir.join("registry"))
}

/// A running registry.
#[derive(Debug)]
pub struct Registry {
    addr: SocketAddr,
    process: ManagedProcess,
}

impl Registry {
    /// Starts a registry storing its blobs under `dir`, on a free port of `host`.
    pub fn start(dir: &Path, host: std::net::IpAddr) -> Result<Registry, TestBedError> {
        let binary = ensure_registry()?;
        std::fs::create_dir_all(dir)
            .map_err(TestBedError::io(format!("creating {}", dir.display())))?;
        let addr = SocketAddr::new(host, free_port_on(host)?);
        let config = dir.join("config.yml");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {addr}\n",
            serde_json::Value::String(dir.join("data").display().to_string())
        );
        std::fs::write(&config, yaml)
            .map_err(TestBedError::io(format!("writing {}", config.display())))?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .arg(&config)
            // Its OpenTelemetry exporter would otherwise try an OTLP endpoint on every start.
            .env("OTEL_TRACES_EXPORTER", "none");
        let mut process = ManagedProcess::spawn("registry", cmd, &dir.join("registry.log"))?;
        process.wait_until(START_TIMEOUT, |_| accepts_tcp(addr))?;
        Ok(Registry { addr, process })
    }

    /// `host:port`, the prefix of every image reference in this registry.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Copies the image `tag` of the OCI layout `layout` to `<registry>/<name>:<tag>`.
    pub fn push_layout(
        &self,
        layout: &Path,
        tag: &str,
        name: &str,
    ) -> Result<String, TestBedError> {
        let reference = format!("{}/{name}:{tag}", self.host());
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{reference}"));
        crate::install::run(cmd)?;
        Ok(reference)
    }
}

/// containerd's `hosts.toml` for `host` (`ip:port`): pull and resolve over plain HTTP. It goes to
/// `<config_path>/<host>/hosts.toml`.
pub fn hosts_toml(host: &str) -> String {
    format!(
        "server = \"http://{host}\"\n\n[host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    )
}
