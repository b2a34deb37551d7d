#!/usr/bin/env bash
# Makes (once) the Python venv with PyIceberg used by the audit table's cross-client test, and prints the
# path of its interpreter on stdout (the last line). A finished venv with the pinned version is reused, and
# parallel callers get one build (scripts/python-venv.sh). Fails loudly (non-zero) when the venv cannot be
# made: the test must not silently skip the independent reader.
set -euo pipefail

PYICEBERG_VERSION="0.12.0"
VENV="${SLUICE_PYICEBERG_VENV:-${HOME}/.cache/sluice/pyiceberg-venv}"
exec "$(dirname "${BASH_SOURCE[0]}")/../../scripts/python-venv.sh" "$VENV" \
    "pyiceberg, pyarrow, sqlalchemy" "pyiceberg[sql-sqlite,pyarrow]==${PYICEBERG_VERSION}"
