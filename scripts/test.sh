#!/usr/bin/env bash
# Run the whole test suite: Python (unit, WebSocket, end-to-end, browser) and
# the components' JavaScript unit tests.  Extra arguments go to pytest.
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
echo "== Python tests (pytest)"
python -m pytest "$@" || status=$?
exit $status
