//! Builds the Kubernetes binaries (etcd, kube-apiserver, kubectl, and for the real node kube-controller-manager,
//! kube-scheduler, kubelet, kube-proxy and the pod sandbox's `pause`) from the Go module in `testbed/kube/` into
//! `<cache>/kube-<version>/bin/`, once. The Go module proxy is the only source: `testbed/kube/go.mod` requires
//! `k8s.io/kubernetes` and `go.etcd.io/etcd/server/v3` and its committed go.sum pins every dependency.
//!
//! A cold build compiles a few thousand Go packages (see docs/testing.md for the measured time on 2 cores);
//! later calls return at once because a finished build is stamped. [`crate::once::create_once`] builds into a
//! staging directory renamed into place under a lock, so an interrupted build never leaves a half-installed
//! `bin/` and parallel callers get one build.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::TestBedError;
use crate::cache::cache_root;

/// The Kubernetes release built (k8s.io/kubernetes; its staging modules are the matching v0.x releases).
pub const KUBE_VERSION: &str = "v1.34.4";

/// `-s -w` drops symbols and DWARF (about a third of the size). The `-X` values are what the upstream release
/// build stamps: without them the binaries report `v0.0.0-master` to clients such as `kubectl version`.
fn ldflags() -> String {
    let pkg = "k8s.io/component-base/version";
    let minor = KUBE_VERSION.split('.').nth(1).unwrap_or("0");
    format!(
        "-ldflags=-s -w -X {pkg}.gitVersion={KUBE_VERSION} -X {pkg}.gitMajor=1 -X {pkg}.gitMinor={minor} \
         -X {pkg}.gitTreeState=clean"
    )
}

/// The binaries, and the Go package each is built from (relative to `testbed/kube/`). One `go build` compiles the
/// packages they share once.
const BINARIES: [(&str, &str); 7] = [
    ("etcd", "./cmd/etcd"),
    ("kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver"),
    ("kubectl", "k8s.io/kubernetes/cmd/kubectl"),
    (
        "kube-controller-manager",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
    ),
    ("kube-scheduler", "k8s.io/kubernetes/cmd/kube-scheduler"),
    ("kubelet", "k8s.io/kubernetes/cmd/kubelet"),
    ("kube-proxy", "k8s.io/kubernetes/cmd/kube-proxy"),
];

/// Programs that run inside the real node's pods as single-file images, so they are built with
/// `CGO_ENABLED=0` (fully static): the pod sandbox's `pause` and the network probe `netcheck`.
const STATIC_BINARIES: [(&str, &str); 2] =
    [("pause", "./cmd/pause"), ("netcheck", "./cmd/netcheck")];

fn go_module_dir() -> PathBuf {
    crate::cache::testbed_dir().join("kube")
}

fn install_dir() -> PathBuf {
    cache_root().join(format!("kube-{KUBE_VERSION}"))
}

/// The directory holding the [`BINARIES`].
pub fn kube_bin_dir() -> PathBuf {
    install_dir().join("bin")
}

/// Path of one installed control-plane binary.
pub fn kube_bin(name: &str) -> PathBuf {
    kube_bin_dir().join(name)
}

/// True if a finished build is installed (the test bed uses this to skip Kubernetes when it was not built).
pub fn kube_installed() -> bool {
    crate::once::is_complete(&kube_bin_dir(), &build_key())
}

/// What a finished `bin/` was built for: a changed version, list of binaries or flags rebuilds it.
fn build_key() -> String {
    let names: Vec<&str> = BINARIES
        .iter()
        .chain(&STATIC_BINARIES)
        .map(|(name, _)| *name)
        .collect();
    format!("{KUBE_VERSION} {} {}", names.join(","), ldflags())
}

/// `go build` of `binaries` into `out`, with the release's version stamps.
fn go_build(out: &std::path::Path, binaries: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("go");
    // A trailing slash makes `go build -o` treat the target as a directory for several main packages.
    let out_dir = format!("{}/", out.display());
    cmd.current_dir(go_module_dir())
        .arg("build")
        .arg("-trimpath")
        .arg(ldflags())
        .arg("-o")
        .arg(out_dir)
        .args(binaries.iter().map(|(_, pkg)| *pkg))
        // go.sum is committed: a build must never rewrite go.mod/go.sum behind the developer's back.
        .env("GOFLAGS", "-mod=readonly -buildvcs=false");
    cmd
}

/// Builds the binaries unless a finished build is installed already (see [`crate::once`]: parallel callers
/// on an empty cache get one build, and an interrupted build never leaves a half-installed `bin/`). Needs
/// `go` on PATH.
pub fn ensure_kube() -> Result<PathBuf, TestBedError> {
    crate::once::create_once(&kube_bin_dir(), &build_key(), |staging| {
        let started = Instant::now();
        tracing::info!(
            version = KUBE_VERSION,
            "building the Kubernetes binaries with go build"
        );
        crate::install::run(go_build(staging, &BINARIES))?;
        let mut static_build = go_build(staging, &STATIC_BINARIES);
        static_build.env("CGO_ENABLED", "0");
        crate::install::run(static_build)?;
        tracing::info!(
            seconds = started.elapsed().as_secs(),
            "Kubernetes binaries built"
        );
        Ok(())
    })
}
