#!/usr/bin/env bash
# The `sluice` CLI from source, for the README's first command on a fresh machine:
#
#   ./sluice.sh run examples/fraud-local.yaml
#
# Installs what the build needs (scripts/prereqs.sh, idempotent), then builds the release binary into the
# shared cache ($HOME/.cache/sluice/target unless CARGO_TARGET_DIR is set) and runs it with the arguments
# given, from the current directory (relative paths in a job file are relative to it).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$ROOT/scripts/prereqs.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}/target}
exec cargo run --release --locked --manifest-path "$ROOT/Cargo.toml" -p sluice-cli --bin sluice -- "$@"
