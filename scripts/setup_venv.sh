#!/usr/bin/env bash
# Create .venv with Python 3.8 and install otree-redwood (editable) with the
# test extras.  Re-running is cheap: it reinstalls only when the packaging
# (pyproject.toml, setup.py) changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(./scripts/find_python.sh)
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info[:2]==(3,8) else 1)'; then
  echo "Creating .venv with $PY"
  rm -rf .venv
  "$PY" -m venv .venv
fi
stamp=.venv/.redwood-installed
want=$(cat pyproject.toml setup.py | sha1sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing otree-redwood and its dependencies into .venv (about a minute the first time)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip wheel
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
  echo "$want" > "$stamp"
fi
