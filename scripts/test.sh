#!/usr/bin/env bash
# Run the whole test suite on both stacks, fast tiers first: the components'
# JavaScript unit tests, Python unit tests (tests/unit: no Redis, database or
# server), then WebSocket, end-to-end and browser tests on oTree 3.4
# (Python 3.8, .venv), then the oTree 6 tier (tests6: Python 3.10+, oTree
# 6.0.15, .venv6, real otree commands).  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_venv.sh
export PATH="$PWD/.venv/bin:$PATH"
# the cryptography wheel warns on every start that Python 3.8 is old; oTree 3.4 needs 3.8
export PYTHONWARNINGS="ignore:Python 3.8 is no longer supported"
status=0
if command -v node >/dev/null 2>&1 && ls tests/js/*.test.mjs >/dev/null 2>&1; then
  echo "== JavaScript unit tests (node --test)"
  node --test tests/js/ || status=1
else
  echo "== JavaScript unit tests skipped: node not found"
fi
# pytest's exit code 5 means "no test collected": a tier that ran nothing
# is a failure here too
echo "== Python fast tier (pytest -m unit: no Redis, database or server)"
python -m pytest -m unit "$@" || status=$?
echo "== Python integration, end-to-end and browser tiers (pytest)"
python -m pytest -m "not unit" "$@" || status=$?
echo "== oTree 6 tier (tests6: Python 3.10+, oTree 6.0.15, real otree commands)"
./scripts/setup_venv6.sh
.venv6/bin/python -m pytest -c tests6/pytest.ini tests6 "$@" || status=$?
exit $status
