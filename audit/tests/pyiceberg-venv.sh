#!/usr/bin/env bash
# Creates (once) the Python venv with PyIceberg used by the audit table's cross-client test, and
# prints the path of its interpreter on stdout (the last line). Idempotent: an existing venv with the
# pinned version is reused. Fails loudly (non-zero) when the venv cannot be made: the test must not
# silently skip the independent reader.
set -euo pipefail

PYICEBERG_VERSION="0.12.0"
VENV="${SLUICE_PYICEBERG_VENV:-${HOME}/.cache/sluice/pyiceberg-venv}"
PY="${VENV}/bin/python"
STAMP="${VENV}/.sluice-pyiceberg-${PYICEBERG_VERSION}"

if [[ -x "${PY}" && -f "${STAMP}" ]]; then
    echo "${PY}"
    exit 0
fi

mkdir -p "$(dirname "${VENV}")"
# A half-made venv (interrupted install) is rebuilt from scratch rather than patched.
rm -rf "${VENV}"
python3 -m venv "${VENV}" >&2
"${PY}" -m pip install --quiet --disable-pip-version-check \
    "pyiceberg[sql-sqlite,pyarrow]==${PYICEBERG_VERSION}" >&2
"${PY}" -c "import pyiceberg, pyarrow, sqlalchemy" >&2
touch "${STAMP}"
echo "${PY}"
