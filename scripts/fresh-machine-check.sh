#!/usr/bin/env bash
# The fresh-machine check: a fresh clone of the committed HEAD, an empty HOME (no ~/.cache/sluice, ~/.m2, pip,
# Go module or build cache) and an empty CARGO_HOME (every crate downloaded again), then both README commands
# exactly as a new user types them, each phase timed. Reused: only the installed toolchains (rustup's Rust,
# Go, the JDK and Maven, Python), Debian packages, and the machine's own configuration files in HOME.
#
#   scripts/fresh-machine-check.sh [WORK_DIR]     # WORK_DIR: new or empty; default /var/tmp/sluice-fresh.*
#
# Writes WORK_DIR/report.md (date, commit, phase times, pass/fail, the test summary line) and prints it; exits
# non-zero when a phase fails. WORK_DIR is kept (logs, the clone, the caches the run filled): rm -rf it after.
# Run it before resolving an issue that changes an install step, a cache or a test fixture, and record the
# result in docs/testing.md.
set -euo pipefail
ROOT=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
COMMIT=$(git -C "$ROOT" rev-parse HEAD)
WORK=${1:-$(mktemp -d /var/tmp/sluice-fresh.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
if [ -n "$(ls -A "$WORK")" ]; then
  echo "fresh-machine check: $WORK is not empty" >&2
  exit 2
fi
# The two commands, as README.md states them; the check fails if the README says something else.
RUN_CMD='./sluice.sh run examples/fraud-local.yaml'
TEST_CMD='./test.sh'
for cmd in "$RUN_CMD" "$TEST_CMD"; do
  grep -qF -- "$cmd" "$ROOT/README.md" || { echo "README.md does not give '$cmd'" >&2; exit 2; }
done

FRESH_HOME=$WORK/home
mkdir -p "$FRESH_HOME/.config/go" "$WORK/cargo-home"
# Machine configuration a new machine has in HOME too (not caches): Go's env file, git identity, npm settings.
for f in .config/go/env .gitconfig .npmrc; do
  [ -f "$HOME/$f" ] && cp "$HOME/$f" "$FRESH_HOME/$f"
done
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
export PYENV_ROOT=${PYENV_ROOT:-$HOME/.pyenv}
export HOME=$FRESH_HOME CARGO_HOME=$WORK/cargo-home
unset CARGO_TARGET_DIR SLUICE_CACHE_DIR GOPATH GOCACHE GOMODCACHE SLUICE_KAFKA_BOOTSTRAP SLUICE_S3_ENDPOINT \
  SLUICE_KUBECONFIG MAVEN_OPTS

REPORT=$WORK/report.md
phases=()
result=pass
phase() { # name log command... : runs the command, records its wall time and exit status
  local name=$1 log=$2 started status
  shift 2
  started=$(date +%s)
  echo "==> $name ($(date +%T)), log: $log"
  set +e
  "$@" > "$log" 2>&1
  status=$?
  set -e
  local took=$(($(date +%s) - started))
  phases+=("| $name | $((took / 60)) min $((took % 60)) s | $([ "$status" -eq 0 ] && echo pass || echo "FAIL (exit $status)") |")
  [ "$status" -eq 0 ] || result=fail
  return "$status"
}

begun=$(date +%s)
phase "git clone" "$WORK/clone.log" git clone --no-local "$ROOT" "$WORK/src" || true
if [ "$result" = pass ]; then
  git -C "$WORK/src" checkout -q "$COMMIT"
  cd "$WORK/src"
  phase "README run: $RUN_CMD" "$WORK/run.log" bash -c "$RUN_CMD" || true
  phase "README test: $TEST_CMD" "$WORK/test.log" bash -c "$TEST_CMD" || true
fi
total=$(($(date +%s) - begun))
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$WORK/test.log" 2>/dev/null | tail -n 1 || true)
{
  echo "fresh-machine check, $(date -u +%Y-%m-%dT%H:%MZ), commit $COMMIT: **$result**"
  echo
  echo "| phase | wall time | result |"
  echo "| --- | --- | --- |"
  printf '%s\n' "${phases[@]}"
  echo "| total | $((total / 60)) min $((total % 60)) s | $result |"
  echo
  echo "tests: ${summary:-no summary line}; machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB"
} > "$REPORT"
cat "$REPORT"
[ "$result" = pass ]
