#!/usr/bin/env bash
# Print the path of a Python 3.8 interpreter (oTree 3.4 runs only on 3.8).
# Looks on PATH, then in pyenv, then in the usual places; exits 1 with advice.
set -u
is38() { [ -x "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 8) else 1)' 2>/dev/null; }
for cand in "${REDWOOD_PYTHON:-}" "$(command -v python3.8 2>/dev/null)"; do
  if [ -n "$cand" ] && is38 "$cand"; then echo "$cand"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for cand in $(ls -d "$root"/versions/3.8.* 2>/dev/null | sort -V -r); do
    if is38 "$cand/bin/python"; then echo "$cand/bin/python"; exit 0; fi
  done
fi
for cand in "$HOME"/.pyenv/versions/3.8.*/bin/python /usr/local/bin/python3.8 /usr/bin/python3.8; do
  if is38 "$cand"; then echo "$cand"; exit 0; fi
done
cat >&2 <<'MSG'
otree-redwood needs Python 3.8: oTree 3.4, the last Django-based oTree, installs and runs only on 3.8.
No Python 3.8 was found on PATH (python3.8), in pyenv, or in /usr/bin and /usr/local/bin.
Install one, for example with pyenv:   pyenv install 3.8.18
or point to it:                        REDWOOD_PYTHON=/path/to/python3.8 ./scripts/...
MSG
exit 1
