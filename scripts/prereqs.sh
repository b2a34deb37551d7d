#!/usr/bin/env bash
# The one prerequisites step both README commands run first (`./sluice.sh` and `./test.sh`), so either can
# be the first command on a fresh machine. Idempotent and quiet when everything is there: it installs only
# missing Debian packages (one `apt-get update` first) and the rustfmt/clippy components.
#
#   scripts/prereqs.sh            # what both README commands need
#   scripts/prereqs.sh images     # ... plus umoci and skopeo, for scripts/build-images.sh
#   scripts/prereqs.sh node       # ... plus the real node's container runtime and network tools (the tests'
#                                 # Kubernetes node: containerd, runc, the CNI plugins, nftables, iptables)
#
# What needs what:
#   build (both commands)  libclang-dev (bindgen for librocksdb-sys), cmake, libssl-dev, libsasl2-dev,
#                          libcurl4-openssl-dev, zlib1g-dev, pkg-config (librdkafka built from source)
#   tests                  maven + a JRE 17 (Kafka's jars, the Flink peer), openssl (the certificate a broker
#                          presents), lua5.4 and lua-cjson (Argo CD health
#                          checks), python3-venv (PyIceberg, PyYAML, matplotlib venvs), rustfmt, clippy; Go
#                          (installed on this project's machines) builds the Kubernetes binaries, helm and promtool
# Several callers at once (two README commands in two terminals) take turns on a lock, so apt never races.
set -euo pipefail

CACHE=${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}
mkdir -p "$CACHE"
exec 9>"$CACHE/prereqs.lock"
flock 9

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need=()
for pkg in libclang-dev cmake libssl-dev libsasl2-dev libcurl4-openssl-dev zlib1g-dev pkg-config g++ make \
  lua5.4 lua-cjson openssl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# A JDK/Maven outside dpkg (a preinstalled Temurin, say) satisfies the Java needs too.
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
extra=()
case "${1:-}" in
  images) extra=(umoci skopeo) ;;
  node) extra=(umoci skopeo containerd runc containernetworking-plugins nftables iptables) ;;
  "") ;;
  *) echo "prereqs.sh: unknown argument '$1' (expected nothing, 'images' or 'node')" >&2; exit 2 ;;
esac
for pkg in "${extra[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "prereqs: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "prereqs: cargo not found: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi
if command -v rustup >/dev/null; then
  for comp in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$comp" || rustup component add "$comp" >&2
  done
fi
