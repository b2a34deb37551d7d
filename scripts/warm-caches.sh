#!/usr/bin/env bash
# Fills the caches the later steps of ./test.sh need while the workspace compiles: ./test.sh starts it in the
# background at the lowest CPU priority, so it uses what the Rust build leaves idle (its single-threaded
# stretches) and the network waits overlap the build. Each step is idempotent and quick when done already;
# a failure here only costs time — the step that needs the tool builds it again and reports the error.
#
#   scripts/warm-caches.sh        # downloads (Maven, Go modules, the tests' Python venvs), then the builds:
#                                 # cargo-deny, helm, promtool, s3s-fs, and the Go build cache of the
#                                 # Kubernetes binaries and the registry
#
# The Kubernetes binaries and the registry are built (and stamped) by the test bed in Rust
# (testbed/src/services/kube/install.rs, node/registry.rs); here they are only compiled into Go's build cache
# with the same compiler flags, so the test bed's `go build` finds every package compiled and only links.
set -uo pipefail
# ./test.sh starts this in a session of its own (so its cleanup can stop every build in it), and with the
# kernel's autogroup scheduling a session competes with the Rust build as an equal whatever its processes'
# nice value: the session's own weight has to be lowered too (measured on 2026-12-07: without it the Go
# compiler took about half of the CPU from the workspace build).
echo 19 > /proc/self/autogroup 2>/dev/null || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=cached-tools.sh
. "$ROOT/scripts/cached-tools.sh"

step() { printf '%s warm-caches: %s\n' "$(date +%T)" "$*"; }
failed=0
try() { "$@" >/dev/null || { failed=$((failed + 1)); step "FAILED: $*"; }; }

# The packages a tools.go pins (its `_ "path"` imports).
pinned_packages() { sed -n 's/^[[:space:]]*_ "\(.*\)"$/\1/p' "$1"; }

# `go build` of a module's packages into a throwaway directory: only the build cache is kept.
go_compile() { # module-dir packages...
  local dir=$1 out
  shift
  out=$(mktemp -d) || return 1
  (cd "$dir" && GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -o "$out/" "$@")
  local status=$?
  rm -rf "$out"
  return "$status"
}

step "downloads (Maven, Go modules)"
try mvn -B -q -Dmaven.repo.local="$HOME/.m2/repository" -f "$ROOT/testbed/kafka/pom.xml" dependency:resolve
try mvn -B -q -Dmaven.repo.local="$HOME/.m2/repository" -f "$ROOT/bench/flink-fraud/pom.xml" dependency:go-offline
for module in testbed/kube testbed/registry; do
  try bash -c "cd '$ROOT/$module' && GOFLAGS=-mod=readonly go mod download"
done
step "Python venvs (PyIceberg for the audit tests and compaction, matplotlib for the soak plot)"
for venv in audit/tests/pyiceberg-venv.sh audit/compact/venv.sh bench/plot/venv.sh; do
  try "$ROOT/$venv"
done

step "cargo-deny";  try ensure_cargo_deny
step "helm";        try ensure_helm
step "promtool";    try ensure_promtool
step "s3s-fs";      try ensure_s3s_fs
# Skipped when the test bed has installed the version its go.mod requires (the Rust side stamps it): on a
# warm cache `go build` would still link every binary into the throwaway directory, minutes of CPU for nothing.
installed() { # cache-dir-prefix go.mod module
  local version
  version=$(sed -n "s|^[[:space:]]*\(require \)\{0,1\}$3 \(v[0-9][^ ]*\)\$|\2|p" "$2" | head -n 1)
  [ -n "$version" ] && { [ -f "$CACHE/$1-$version/bin/.sluice-complete" ] || [ -f "$CACHE/$1-$version/.sluice-complete" ]; }
}
if installed kube "$ROOT/testbed/kube/go.mod" k8s.io/kubernetes; then
  step "Kubernetes: installed already"
else
  step "Kubernetes (Go build cache)"
  mapfile -t kube_packages < <(pinned_packages "$ROOT/testbed/kube/tools.go")
  try go_compile "$ROOT/testbed/kube" ./cmd/etcd "${kube_packages[@]}"
fi
if installed registry "$ROOT/testbed/registry/go.mod" github.com/distribution/distribution/v3; then
  step "registry: installed already"
else
  step "registry (Go build cache)"
  mapfile -t registry_packages < <(pinned_packages "$ROOT/testbed/registry/tools.go")
  try go_compile "$ROOT/testbed/registry" "${registry_packages[@]}"
fi
step "done, $failed step(s) failed"
