#!/usr/bin/env bash
# Creates (once) the Python environment the benchmark plots with, and prints its interpreter's path.
# Idempotent: a marker file names the pinned matplotlib version, so a finished venv is reused and a
# half-built one (interrupted pip) is rebuilt. Everything it cannot do is reported on stderr with a non-zero
# exit, and `sluice-bench run` fails its plot step with that message.
set -euo pipefail

MATPLOTLIB_VERSION="3.9.2"
VENV="${SLUICE_PLOT_VENV:-$HOME/.cache/sluice/plot-venv}"
MARKER="$VENV/.sluice-matplotlib-$MATPLOTLIB_VERSION"

if [[ -f "$MARKER" && -x "$VENV/bin/python" ]]; then
    echo "$VENV/bin/python"
    exit 0
fi

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null; then
    echo "venv.sh: $PYTHON not found: install Python 3 (with the venv module) to draw the plots" >&2
    exit 1
fi
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
if ! "$PYTHON" -m venv "$VENV" >&2; then
    echo "venv.sh: '$PYTHON -m venv $VENV' failed (Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
fi
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "matplotlib==$MATPLOTLIB_VERSION" >&2; then
    echo "venv.sh: pip could not install matplotlib==$MATPLOTLIB_VERSION into $VENV (is PyPI reachable?)" >&2
    exit 1
fi
touch "$MARKER"
echo "$VENV/bin/python"
