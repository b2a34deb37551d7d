//! The images the real node runs, all built here (nothing may be pulled from a public registry): the pod
//! sandbox image from the static `pause` binary built with the Kubernetes binaries, and Sluice's own images by
//! `scripts/build-images.sh` (the command users run) from the binaries this build already made.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::registry::Registry;
use crate::TestBedError;
use crate::install::run;
use crate::services::kube::install::{KUBE_VERSION, kube_bin};

/// The sandbox image's repository in the node's registry (its tag is the Kubernetes version).
pub const PAUSE_REPOSITORY: &str = "sluice-testbed/pause";

/// Builds the sandbox image and pushes it; returns its reference. 65535 is the upstream pause image's user:
/// the sandbox needs no privilege at all.
pub fn push_pause(dir: &Path, registry: &Registry) -> Result<String, TestBedError> {
    push_static_image(dir, registry, "pause", PAUSE_REPOSITORY, "65535:65535")
}

/// Packs the static binary `binary` (one of the Kubernetes build's, see [`kube_bin`]) as the only file of an
/// image whose entrypoint it is, running as `user`, into the OCI layout `dir/<binary>-image`, and pushes it
/// as `<registry>/<repository>:<Kubernetes version>`; returns that reference.
pub fn push_static_image(
    dir: &Path,
    registry: &Registry,
    binary: &str,
    repository: &str,
    user: &str,
) -> Result<String, TestBedError> {
    let rootfs = dir.join(format!("{binary}-rootfs"));
    let layout = dir.join(format!("{binary}-image"));
    let _ = std::fs::remove_dir_all(&rootfs);
    let _ = std::fs::remove_dir_all(&layout);
    std::fs::create_dir_all(&rootfs)
        .map_err(TestBedError::io(format!("creating {}", rootfs.display())))?;
    std::fs::copy(kube_bin(binary), rootfs.join(binary))
        .map_err(TestBedError::io(format!("copying {binary}")))?;
    let image = format!("{}:{KUBE_VERSION}", layout.display());
    let epoch = "1970-01-01T00:00:00Z";
    let layout_arg = layout.display().to_string();
    let rootfs_arg = rootfs.display().to_string();
    let entrypoint = format!("/{binary}");
    run(umoci(&["init", "--layout", &layout_arg]))?;
    run(umoci(&["new", "--image", &image]))?;
    run(umoci(&[
        "insert",
        "--history.created",
        epoch,
        "--image",
        &image,
        &rootfs_arg,
        "/",
    ]))?;
    run(umoci(&[
        "config",
        "--image",
        &image,
        "--created",
        epoch,
        "--history.created",
        epoch,
        "--config.user",
        user,
        "--config.entrypoint",
        &entrypoint,
    ]))?;
    let _ = std::fs::remove_dir_all(&rootfs);
    registry.push_layout(&layout, KUBE_VERSION, repository)
}

fn umoci(args: &[&str]) -> Command {
    let mut cmd = Command::new("umoci");
    cmd.args(args);
    cmd
}

/// Sluice's images (`sluice-worker`, `sluice-operator`) in `registry`, tagged `tag`.
#[derive(Debug, Clone)]
pub struct SluiceImages {
    pub worker: String,
    pub operator: String,
}

/// Packages the binaries in `bin_dir` (`sluice-worker`, `sluice`, `sluice-operator`) with
/// `scripts/build-images.sh` into layouts under `out` and pushes them to `registry`.
pub fn push_sluice_images(
    bin_dir: &Path,
    out: &Path,
    tag: &str,
    registry: &Registry,
) -> Result<SluiceImages, TestBedError> {
    let script = workspace_root().join("scripts").join("build-images.sh");
    let mut cmd = Command::new(script);
    cmd.arg("--bin-dir")
        .arg(bin_dir)
        .arg("--out")
        .arg(out)
        .arg("--tag")
        .arg(tag)
        .arg("--push")
        .arg(registry.host());
    run(cmd)?;
    Ok(SluiceImages {
        worker: format!("{}/sluice-worker:{tag}", registry.host()),
        operator: format!("{}/sluice-operator:{tag}", registry.host()),
    })
}

fn workspace_root() -> PathBuf {
    crate::cache::repo_root()
}
