#!/usr/bin/env bash
# Create .venv with Python 3.11 and install hepwatch into it; EXTRAS=test adds the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
spec="."
[ -n "${EXTRAS:-}" ] && spec=".[${EXTRAS}]"
stamp=".venv/.installed-${EXTRAS:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -qq --disable-pip-version-check -e "$spec"
  touch "$stamp"
fi
