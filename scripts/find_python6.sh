#!/usr/bin/env bash
# Print the path of a Python 3.10-3.14 interpreter for the oTree 6 stack
# (oTree 6.0.x supports 3.10-3.14; oTree 3.4 needs 3.8, see find_python.sh).
# Order: $REDWOOD_PYTHON6, python3.1x on PATH, then pyenv's versions.  3.11
# comes first because CI runs oTree 6 on it.  Every candidate is run once,
# because a pyenv shim on PATH exists even when its version is not selected
# (it then fails with "command not found").  Exits 1 with advice otherwise.
set -u
ok() { [ -n "$1" ] && [ -x "$1" ] && "$1" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 14) else 1)' >/dev/null 2>&1; }
# a shim prints its own path; ask the interpreter for the real one
real() { "$1" -c 'import sys; print(sys.executable)'; }
if [ -n "${REDWOOD_PYTHON6:-}" ]; then
  if ok "$REDWOOD_PYTHON6"; then real "$REDWOOD_PYTHON6"; exit 0; fi
  echo "REDWOOD_PYTHON6=$REDWOOD_PYTHON6 is not a Python 3.10-3.14" >&2
  exit 1
fi
for minor in 11 12 10 13 14; do
  cand=$(command -v "python3.$minor" 2>/dev/null)
  if ok "$cand"; then real "$cand"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for minor in 11 12 10 13 14; do
    for cand in $(ls -d "$root"/versions/3."$minor".* 2>/dev/null | sort -V -r); do
      if ok "$cand/bin/python"; then echo "$cand/bin/python"; exit 0; fi
    done
  done
fi
cat >&2 <<'MSG'
otree-redwood on oTree 6 needs Python 3.10, 3.11, 3.12, 3.13 or 3.14 (oTree 6.0.x supports those).
None was found as python3.1x on PATH or in pyenv's versions.
Install one, for example with pyenv:   pyenv install 3.11
or point to it:                        REDWOOD_PYTHON6=/path/to/python3.11 ./scripts/setup_venv6.sh
MSG
exit 1
