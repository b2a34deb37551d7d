#!/usr/bin/env bash
# Makes (once) a Python venv with pinned packages and prints its interpreter's path on stdout (the last line).
#
#   scripts/python-venv.sh DEST IMPORTS PIP_SPEC...
#     DEST     the venv directory (a finished one is reused; see scripts/create-once.sh)
#     IMPORTS  comma-separated modules that must import once the packages are in ("yaml", "pyiceberg,pyarrow")
#
# Safe when several tests or processes ask for the same venv at once on an empty cache: one builds it in a
# staging directory under a lock, the others wait and then reuse it. Fails loudly (non-zero, the reason on
# stderr) when the venv cannot be made; callers must not silently skip what needs it.
set -euo pipefail
# shellcheck source=create-once.sh
. "$(dirname "${BASH_SOURCE[0]}")/create-once.sh"

if [ $# -lt 3 ]; then
  echo "usage: $0 DEST IMPORTS PIP_SPEC..." >&2
  exit 2
fi
DEST=$1 IMPORTS=$2
shift 2
PYTHON=${PYTHON:-python3}

build_venv() { # PIP_SPEC... STAGING
  local staging=${!#}
  local specs=("${@:1:$#-1}")
  if ! command -v "$PYTHON" >/dev/null; then
    echo "python-venv.sh: $PYTHON not found (Debian: apt-get install python3 python3-venv)" >&2
    return 1
  fi
  if ! "$PYTHON" -m venv "$staging" >&2; then
    echo "python-venv.sh: '$PYTHON -m venv' failed (Debian: apt-get install python3-venv)" >&2
    return 1
  fi
  if ! "$staging/bin/python" -m pip install --quiet --disable-pip-version-check "${specs[@]}" >&2; then
    echo "python-venv.sh: pip could not install ${specs[*]} (is PyPI reachable?)" >&2
    return 1
  fi
  "$staging/bin/python" -c "import ${IMPORTS}" >&2
}

# The key names the interpreter's version too: a venv outlives neither its packages' pins nor its Python.
KEY="$("$PYTHON" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || echo none) $*"
create_once "$DEST" "$KEY" build_venv "$@"
echo "$DEST/bin/python"
