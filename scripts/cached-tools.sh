# Sourced, not run: the tools the checks build once into the cache, each pinned here and made with
# `create_once` (scripts/create-once.sh), so `./test.sh`, `testbed/chart-check.sh` and the background cache
# warm-up (scripts/warm-caches.sh) share one recipe and one build.
#
#   ensure_helm / ensure_promtool / ensure_cargo_deny / ensure_s3s_fs   -> print the binary's path
#
# The Rust test bed builds helm and s3s-fs too (testbed/src/helm.rs, testbed/src/install.rs) under the same
# directories and keys; unit tests there check that the versions below match theirs.
CACHE=${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}
# shellcheck source=create-once.sh
. "$(dirname "${BASH_SOURCE[0]}")/create-once.sh"
# The Go toolchain's usual location when a non-login shell did not put it on PATH.
[ -d /usr/local/go/bin ] && case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) PATH=$PATH:/usr/local/go/bin ;; esac

HELM_VERSION=v3.22.0
PROMTOOL_VERSION=v0.316.0 # github.com/prometheus/prometheus module version (Prometheus 3.x)
# The checks only run `promtool check rules` and `promtool test rules`: without the service-discovery plugins
# (Prometheus's own build tag) the build skips the cloud SDKs, most of its compile time.
PROMTOOL_TAGS=remove_all_sd
DENY_VERSION=0.20.2
S3S_FS_VERSION=0.14.1

go_install() { # version module-path go-flags staging
  command -v go >/dev/null || { echo "go is needed to build $2 (Go module proxy)" >&2; return 1; }
  # shellcheck disable=SC2086 # the flags are words
  GOBIN="$4/bin" go install $3 "$2@$1" >&2
}

ensure_helm() {
  create_once "$CACHE/helm-$HELM_VERSION" "$HELM_VERSION" \
    go_install "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "" || return 1
  echo "$CACHE/helm-$HELM_VERSION/bin/helm"
}

ensure_promtool() {
  local flags="-tags=$PROMTOOL_TAGS -trimpath"
  create_once "$CACHE/promtool-$PROMTOOL_VERSION" "$PROMTOOL_VERSION $flags" \
    go_install "$PROMTOOL_VERSION" github.com/prometheus/prometheus/cmd/promtool "$flags" || return 1
  echo "$CACHE/promtool-$PROMTOOL_VERSION/bin/promtool"
}

cargo_install() { # crate version features staging
  local target
  # Its own target dir, dropped afterwards: it must not contend with (or be cleaned by) the workspace build.
  target=$(mktemp -d) || return 1
  # shellcheck disable=SC2086 # the features are words
  cargo install --locked --quiet "$1" --version "$2" $3 --root "$4" --target-dir "$target" >&2
  local status=$?
  rm -rf "$target"
  return "$status"
}

ensure_cargo_deny() {
  create_once "$CACHE/tools/cargo-deny-$DENY_VERSION" "$DENY_VERSION" \
    cargo_install cargo-deny "$DENY_VERSION" --no-default-features || return 1
  echo "$CACHE/tools/cargo-deny-$DENY_VERSION/bin/cargo-deny"
}

# A real S3 server over a local directory (docs/testing.md); the test bed starts it.
ensure_s3s_fs() {
  create_once "$CACHE/s3s-fs-$S3S_FS_VERSION" "$S3S_FS_VERSION" \
    cargo_install s3s-fs "$S3S_FS_VERSION" "--features binary" || return 1
  echo "$CACHE/s3s-fs-$S3S_FS_VERSION/bin/s3s-fs"
}
