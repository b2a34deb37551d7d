#!/usr/bin/env bash
# Creates (once) the Python venv that `sluice audit compact` runs compact.py in, and prints its
# interpreter's path on stdout (the last line). Idempotent: an existing venv with the pinned versions
# is reused. Fails loudly (non-zero) when the venv cannot be made.
#
# It is not the audit tests' read-only venv (audit/tests/pyiceberg-venv.sh): rewriting a partitioned
# table needs PyIceberg's pyiceberg-core extra (the partition transforms on Arrow data).
#
# Location: $SLUICE_PYICEBERG_COMPACT_VENV, default ~/.cache/sluice/pyiceberg-compact-venv, where
# `sluice audit compact` looks by default; elsewhere, point SLUICE_PYICEBERG_PYTHON at the printed path.
set -euo pipefail

PYICEBERG_VERSION="0.12.0"
VENV="${SLUICE_PYICEBERG_COMPACT_VENV:-${HOME}/.cache/sluice/pyiceberg-compact-venv}"
PY="${VENV}/bin/python"
STAMP="${VENV}/.sluice-pyiceberg-compact-${PYICEBERG_VERSION}"

if [[ -x "${PY}" && -f "${STAMP}" ]]; then
    echo "${PY}"
    exit 0
fi

mkdir -p "$(dirname "${VENV}")"
# A half-made venv (interrupted install) is rebuilt from scratch rather than patched.
rm -rf "${VENV}"
python3 -m venv "${VENV}" >&2
"${PY}" -m pip install --quiet --disable-pip-version-check \
    "pyiceberg[sql-sqlite,pyarrow,pyiceberg-core]==${PYICEBERG_VERSION}" >&2
"${PY}" -c "import pyiceberg, pyarrow, sqlalchemy, pyiceberg_core" >&2
touch "${STAMP}"
echo "${PY}"
