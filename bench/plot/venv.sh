#!/usr/bin/env bash
# Makes (once) the Python environment the benchmark plots are drawn with, and prints its interpreter's path.
# A finished venv with the pinned matplotlib is reused, and parallel callers get one build
# (scripts/python-venv.sh). Everything it cannot do is reported on stderr with a non-zero exit, and
# `sluice-bench run` fails its plot step with that message.
set -euo pipefail

MATPLOTLIB_VERSION="3.9.2"
VENV="${SLUICE_PLOT_VENV:-$HOME/.cache/sluice/plot-venv}"
exec "$(dirname "${BASH_SOURCE[0]}")/../../scripts/python-venv.sh" "$VENV" matplotlib \
    "matplotlib==$MATPLOTLIB_VERSION"
