//! Helm, built from the Go module proxy once into the cache, shared with the scripts (`scripts/cached-tools.sh`,
//! used by `testbed/chart-check.sh` and the cache warm-up): both build `helm.sh/helm/v3/cmd/helm@HELM_VERSION`
//! with `go install` into `<cache>/helm-<version>/bin/helm` under the same create-once stamp, so whichever runs
//! first builds it and the other reuses it.

use std::path::PathBuf;
use std::process::Command;

use crate::TestBedError;
use crate::cache::cache_root;

/// Must equal `HELM_VERSION` in scripts/cached-tools.sh (a unit test checks).
pub const HELM_VERSION: &str = "v3.22.0";

/// The helm binary, built first if the cache has none.
pub fn ensure_helm() -> Result<PathBuf, TestBedError> {
    let dest = cache_root().join(format!("helm-{HELM_VERSION}"));
    let dir = crate::once::create_once(&dest, HELM_VERSION, |staging| {
        let mut cmd = Command::new("go");
        cmd.arg("install")
            .arg(format!("helm.sh/helm/v3/cmd/helm@{HELM_VERSION}"))
            .env("GOBIN", staging.join("bin"));
        crate::install::run(cmd)
    })?;
    Ok(dir.join("bin").join("helm"))
}

#[cfg(test)]
mod tests {
    use super::HELM_VERSION;

    #[test]
    fn the_scripts_build_the_same_helm() {
        let script = crate::cache::repo_root()
            .join("scripts")
            .join("cached-tools.sh");
        let text = std::fs::read_to_string(&script).unwrap();
        assert!(
            text.lines()
                .any(|l| l == format!("HELM_VERSION={HELM_VERSION}")),
            "{} does not set HELM_VERSION={HELM_VERSION}",
            script.display()
        );
    }
}
