#!/usr/bin/env bash
# The whole Sluice test suite, from a fresh clone: installs what it needs (idempotently), starts real Kafka and
# S3 servers on loopback, runs the quality gates and every test, stops the services, exits non-zero on failure.
#
#   ./test.sh            # everything
#
# Caches: $HOME/.cache/sluice/ (Kafka jars, the S3 server binary, and CARGO_TARGET_DIR unless set).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
CACHE=${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# Incremental caches are per checkout path and only grow in a shared target dir (12 GB seen); CI builds from
# scratch per crate instead.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
mkdir -p "$CACHE"

step() { printf '\n==> %s (%s)\n' "$*" "$(date +%T)"; }

step "prerequisites"
# Shared with the README's run command (./sluice.sh): missing Debian packages, rustfmt and clippy; `node` adds
# the real Kubernetes node's container runtime, CNI plugins, nftables, umoci and skopeo.
./scripts/prereqs.sh node

step "cargo fmt --check"
cargo fmt --all --check

step "warm the caches in the background (log: \$CACHE/run/warm-caches-$$.log)"
# On a fresh machine the Go-built tools, cargo-deny, s3s-fs, jars and venvs take as long as the workspace build.
# Built beside it at the lowest priority they use the CPU the Rust build leaves idle and overlap its network
# waits; later steps find them finished (or wait on their create-once lock). Its own session, so the cleanup
# below stops every build it started.
mkdir -p "$CACHE/run"
setsid nice -n 19 ./scripts/warm-caches.sh > "$CACHE/run/warm-caches-$$.log" 2>&1 < /dev/null &
WARM_PID=$!
stop_warm_up() { kill -TERM -- "-$WARM_PID" 2>/dev/null || true; }
trap stop_warm_up EXIT

step "prune stale test binaries from the build cache"
# Each dependency or profile change gives test binaries a new hash and leaves the old ones behind; on a
# long-lived cache they add up to tens of GB. Keep only the newest build of each binary.
if [ -d "$CARGO_TARGET_DIR/debug/deps" ]; then
  python3 - "$CARGO_TARGET_DIR/debug/deps" <<'PY'
import os, re, sys, collections
d = sys.argv[1]; groups = collections.defaultdict(list)
for f in os.listdir(d):
    m = re.match(r'^(.*)-([0-9a-f]{16})$', f)
    p = os.path.join(d, f)
    if m and os.path.isfile(p) and os.access(p, os.X_OK):
        groups[m.group(1)].append((os.path.getmtime(p), p))
freed = 0
for name, files in groups.items():
    for _, p in sorted(files)[:-1]:
        freed += os.path.getsize(p); os.remove(p)
print(f"pruned {freed / 1e9:.1f} GB")
PY
fi

step "build"
cargo build --locked --workspace --all-targets

step "CRD drift check"
# The binary the workspace build made: `cargo run -p sluice-crds` would resolve features for that one package
# and rebuild a good part of the dependency tree (minutes on a fresh machine).
"$CARGO_TARGET_DIR/debug/crdgen" --check charts/sluice-operator/crds/streamjob.yaml

step "generated reliability tables match their raw output"
./scripts/reliability-table.py --check docs/reliability.md

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "cargo deny check licenses bans sources"
# Advisories are left out: the RustSec database lives on GitHub, which this project's machines cannot reach.
. scripts/cached-tools.sh
DENY=$(ensure_cargo_deny)
"$DENY" --log-level warn check licenses bans sources

step "Helm chart and Argo CD checks"
./testbed/chart-check.sh

step "Flink peer: its scoring reproduces the shared test vectors"
# Java takes its home from the password database: name the local repository so an empty $HOME means an empty one.
(cd bench/flink-fraud && mvn -q -B -Dmaven.repo.local="$HOME/.m2/repository" test)

step "test services: install (cached) and start"
# The warm-up compiles the Kubernetes binaries into Go's build cache; the install below must not compile the
# same packages beside it.
wait "$WARM_PID" 2>/dev/null || true
tail -n 1 "$CACHE/run/warm-caches-$$.log"
"$CARGO_TARGET_DIR/debug/sluice-testbed" install
STATE=$CACHE/run/testbed-$$
"$CARGO_TARGET_DIR/debug/sluice-testbed" serve --state-dir "$STATE" > "$CACHE/run/testbed-$$.log" 2>&1 &
TESTBED_PID=$!
cleanup() {
  stop_warm_up
  kill -TERM "$TESTBED_PID" 2>/dev/null || true
  wait "$TESTBED_PID" 2>/dev/null || true
  "$CARGO_TARGET_DIR/debug/sluice-testbed" stop --state-dir "$STATE" || true
  rm -rf "$STATE"
}
trap cleanup EXIT
for _ in $(seq 1 1200); do
  [ -f "$STATE/env" ] && break
  if ! kill -0 "$TESTBED_PID" 2>/dev/null; then
    echo "test services failed to start:"; cat "$CACHE/run/testbed-$$.log"; exit 1
  fi
  sleep 0.1
done
[ -f "$STATE/env" ] || { echo "test services not ready after 120s:"; cat "$CACHE/run/testbed-$$.log"; exit 1; }
set -a; . "$STATE/env"; set +a
echo "kafka: $SLUICE_KAFKA_BOOTSTRAP  s3: $SLUICE_S3_ENDPOINT"

step "tests"
# No `set -e` here: a failing test must still reach the summary, the service logs and the cleanup.
set +e
# The end-to-end scenarios append one row each (scenario, events, kills, duplicates, losses, mismatches).
export SLUICE_RELIABILITY_REPORT="$CACHE/run/reliability-$$.jsonl"
rm -f "$SLUICE_RELIABILITY_REPORT"
# The test binaries two at a time (`cargo test --workspace --no-fail-fast` runs them one after the other; most
# end-to-end tests wait more than they compute), then the doc tests. SLUICE_TEST_JOBS=1 runs them one by one.
./scripts/test-binaries.py --jobs "${SLUICE_TEST_JOBS:-2}" --durations "$CACHE/run/test-durations.json" 2>&1 \
  | tee "$CACHE/run/test-output-$$.txt"
status=${PIPESTATUS[0]}
cargo test --locked --workspace --doc --no-fail-fast 2>&1 | tee -a "$CACHE/run/test-output-$$.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
set -e
step "summary"
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$CACHE/run/test-output-$$.txt" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: .* ([0-9]+) failed' "$CACHE/run/test-output-$$.txt" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
# What each failing test printed (its panic message and captured output), kept for the end of the log,
# where a reader of a long CI log looks first.
awk '/^---- .* stdout ----$/ {keep=1} /^failures:$/ {keep=0} keep' "$CACHE/run/test-output-$$.txt" \
  > "$CACHE/run/test-failures-$$.txt"
rm -f "$CACHE/run/test-output-$$.txt"
if [ "$status" -ne 0 ]; then
  for log in "$STATE/kafka/kafka.log" "$STATE/s3/s3.log" "$STATE/kube/kube-apiserver.log" "$STATE/kube/etcd.log"; do
    [ -f "$log" ] && { echo "--- last lines of $log"; tail -n 40 "$log"; }
  done
fi
if [ -s "$SLUICE_RELIABILITY_REPORT" ]; then
  echo "reliability summary (also in $CACHE/run/reliability-summary.md):"
  ./scripts/reliability-table.py "$SLUICE_RELIABILITY_REPORT" > "$CACHE/run/reliability-summary.md"
  cat "$CACHE/run/reliability-summary.md"
fi
if [ -s "$CACHE/run/test-failures-$$.txt" ]; then
  echo "--- where the failing tests were (their step markers and panics):"
  grep -E '^---- .* stdout ----$|panicked at|^\[[a-z_]+ \+ *[0-9]+s\]' "$CACHE/run/test-failures-$$.txt" | tail -n 60 || true
  echo "--- what the failing tests printed (last 150 lines):"
  tail -n 150 "$CACHE/run/test-failures-$$.txt"
fi
rm -f "$CACHE/run/test-failures-$$.txt"
echo "$passed passed, $failed failed"
exit "$status"
