#!/usr/bin/env bash
# Makes (once) the Python venv that `sluice audit compact` runs compact.py in, and prints its interpreter's
# path on stdout (the last line). A finished venv with the pinned versions is reused; several processes asking
# at once on an empty cache get one build (scripts/python-venv.sh: a lock, a staging directory, a rename).
# Fails loudly (non-zero) when the venv cannot be made.
#
# It is not the audit tests' read-only venv (audit/tests/pyiceberg-venv.sh): rewriting a partitioned
# table needs PyIceberg's pyiceberg-core extra (the partition transforms on Arrow data).
#
# Location: $SLUICE_PYICEBERG_COMPACT_VENV, default ~/.cache/sluice/pyiceberg-compact-venv, where
# `sluice audit compact` looks by default; elsewhere, point SLUICE_PYICEBERG_PYTHON at the printed path.
set -euo pipefail

PYICEBERG_VERSION="0.12.0"
VENV="${SLUICE_PYICEBERG_COMPACT_VENV:-${HOME}/.cache/sluice/pyiceberg-compact-venv}"
exec "$(dirname "${BASH_SOURCE[0]}")/../../scripts/python-venv.sh" "$VENV" \
    "pyiceberg, pyarrow, sqlalchemy, pyiceberg_core" \
    "pyiceberg[sql-sqlite,pyarrow,pyiceberg-core]==${PYICEBERG_VERSION}"
