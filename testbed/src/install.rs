//! Idempotent installation of the test-bed services into the cache.
//!
//! - Apache Kafka: jars resolved from Maven Central by `mvn dependency:copy-dependencies` from the small pom in
//!   `testbed/kafka/pom.xml`; the completion stamp records the pom's hash so a changed pom re-resolves.
//! - S3: `s3s-fs` (a real S3 server over a local directory, see docs/testing.md) built with `cargo install`.
//!
//! Each is made with [`crate::once::create_once`], so parallel test binaries on an empty cache get one build.

use std::path::PathBuf;
use std::process::Command;

use crate::TestBedError;
use crate::cache::cache_root;

/// The Kafka version in `testbed/kafka/pom.xml`; the install directory is named after it.
pub const KAFKA_VERSION: &str = "4.1.1";
/// The `s3s-fs` release we build; pinned so a cold run is reproducible. Must equal `S3S_FS_VERSION` in
/// scripts/cached-tools.sh, whose `ensure_s3s_fs` makes the same directory under the same key (a unit test checks).
pub const S3S_FS_VERSION: &str = "0.14.1";

fn kafka_pom() -> PathBuf {
    crate::cache::testbed_dir().join("kafka").join("pom.xml")
}

/// The directory holding Kafka's jars (`<dir>/*` is the classpath).
pub fn kafka_libs_dir() -> PathBuf {
    cache_root()
        .join(format!("kafka-{KAFKA_VERSION}"))
        .join("libs")
}

/// The `s3s-fs` binary path.
pub fn s3s_fs_bin() -> PathBuf {
    cache_root()
        .join(format!("s3s-fs-{S3S_FS_VERSION}"))
        .join("bin")
        .join("s3s-fs")
}

/// Runs `cmd` to completion; a non-zero exit becomes [`TestBedError::Command`] with the output's last 8 KB.
pub(crate) fn run(mut cmd: Command) -> Result<(), TestBedError> {
    let described = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(TestBedError::io(format!("running {described}")))?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    let keep = output.len().saturating_sub(8000);
    Err(TestBedError::Command {
        command: described,
        status: out.status.to_string(),
        output: output.get(keep..).unwrap_or(&output).to_string(),
    })
}

/// A cheap content fingerprint (FNV-1a) of the pom, so editing it triggers a re-resolve.
fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `mvn -B` with the local repository under `$HOME`. Java takes its home directory from the password
/// database, not `$HOME`, so without this a build with an empty `HOME` would still use (and fill) root's
/// `~/.m2`; the fresh-machine check (scripts/fresh-machine-check.sh) relies on it.
pub fn maven() -> Command {
    let mut cmd = Command::new("mvn");
    cmd.arg("-B");
    if let Some(home) = std::env::var_os("HOME") {
        let repo = PathBuf::from(home).join(".m2").join("repository");
        cmd.arg(format!("-Dmaven.repo.local={}", repo.display()));
    }
    cmd
}

/// Resolves Kafka's jars into the cache once per pom content (see [`crate::once`]).
pub fn ensure_kafka() -> Result<PathBuf, TestBedError> {
    let pom = kafka_pom();
    let pom_bytes =
        std::fs::read(&pom).map_err(TestBedError::io(format!("reading {}", pom.display())))?;
    crate::once::create_once(&kafka_libs_dir(), &fingerprint(&pom_bytes), |staging| {
        let mut cmd = maven();
        cmd.arg("-q")
            .arg("-f")
            .arg(&pom)
            .arg("dependency:copy-dependencies")
            .arg("-DincludeScope=runtime")
            .arg(format!("-DoutputDirectory={}", staging.display()));
        run(cmd)
    })
}

/// Builds `s3s-fs` into the cache once (see [`crate::once`]).
pub fn ensure_s3s_fs() -> Result<PathBuf, TestBedError> {
    let root = cache_root().join(format!("s3s-fs-{S3S_FS_VERSION}"));
    crate::once::create_once(&root, S3S_FS_VERSION, |staging| {
        // Its own target dir: it must not contend with (or be cleaned by) the workspace build. Only the
        // lock holder builds, so one directory serves every caller.
        let target = cache_root().join("s3s-fs-target");
        let mut cmd = Command::new("cargo");
        cmd.arg("install")
            .arg("s3s-fs")
            .arg("--version")
            .arg(S3S_FS_VERSION)
            .arg("--locked")
            .arg("--features")
            .arg("binary")
            .arg("--root")
            .arg(staging)
            .env("CARGO_TARGET_DIR", &target);
        let built = run(cmd);
        // The build tree is only needed once; dropping it keeps the cache small.
        let _ = std::fs::remove_dir_all(&target);
        built
    })?;
    Ok(s3s_fs_bin())
}

/// Installs every service the test bed can start.
pub fn ensure_all() -> Result<(), TestBedError> {
    ensure_kafka()?;
    ensure_s3s_fs()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{S3S_FS_VERSION, fingerprint};

    #[test]
    fn the_scripts_build_the_same_s3s_fs() {
        let script = crate::cache::repo_root()
            .join("scripts")
            .join("cached-tools.sh");
        let text = std::fs::read_to_string(&script).unwrap();
        let line = format!("S3S_FS_VERSION={S3S_FS_VERSION}");
        assert!(
            text.lines().any(|l| l == line),
            "{} does not set {line}",
            script.display()
        );
    }

    #[test]
    fn fingerprint_changes_with_content() {
        assert_eq!(fingerprint(b"abc"), fingerprint(b"abc"));
        assert_ne!(fingerprint(b"abc"), fingerprint(b"abd"));
    }
}
