#!/bin/bash
# Play the same scripted DecisionGroup period on otree-redwood 0.9.4 and on
# this repository, and print what each stored (see README.md).
#
#   benchmarks/compare_094/run.sh [WORK_DIR]
#
# WORK_DIR (default: a new temporary folder) holds the venvs, projects,
# databases, logs and results; it must be outside the repository.  Given the
# same WORK_DIR again, the venvs and the 0.9.4 project are reused.
#
# Environment:
#   REDWOOD_PYTHON  Python 3.8 for the venvs (default: pyenv's newest 3.8, or python3.8)
#   OURS_REF        commit of this repository to play (default HEAD; git archive, so
#                   edits in the working tree do not count)
#   OURS_VENV       venv with this project's dependencies (default: <repo>/.venv if it
#                   exists, else WORK_DIR/venv-ours made with `pip install -e <repo>`)
#   REPEAT          runs of the "late" script per mode and server (default 3)
#   BURST           decisions per member in the "burst" script (default 80)
#   SCRIPTS         which scripts to play (default "normal late burst")
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(git -C "$HERE" rev-parse --show-toplevel)
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/compare094.XXXXXX")}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
case "$WORK/" in
  "$REPO"/*) echo "run.sh: the work folder must be outside the repository ($REPO)" >&2; exit 2 ;;
esac
OURS_REF=${OURS_REF:-HEAD}
REPEAT=${REPEAT:-3}
BURST=${BURST:-80}
SCRIPTS=${SCRIPTS:-normal late burst}
export PYTHONWARNINGS="ignore:Python 3.8 is no longer supported"
export PYTHONDONTWRITEBYTECODE=1  # nothing written into the repository
command -v redis-server >/dev/null || { echo "run.sh: redis-server is not on PATH" >&2; exit 2; }

find_python() {
  if [ -n "${REDWOOD_PYTHON:-}" ]; then echo "$REDWOOD_PYTHON"; return; fi
  if command -v pyenv >/dev/null; then
    local v
    v=$(ls -d "$(pyenv root)"/versions/3.8.* 2>/dev/null | sort -V | tail -1)
    if [ -n "$v" ]; then echo "$v/bin/python"; return; fi
  fi
  command -v python3.8 || true
}
PY38=$(find_python)
if [ -z "$PY38" ] || ! "$PY38" -c 'import sys; assert sys.version_info[:2] == (3, 8)' 2>/dev/null; then
  echo "run.sh: no Python 3.8 found (set REDWOOD_PYTHON)" >&2; exit 2
fi

cd "$WORK"
mkdir -p logs out
rm -f out/*.json
echo "work folder: $WORK"

# ---- otree-redwood 0.9.4 from PyPI, in a venv of its own ----
if [ ! -f venv094/.complete ]; then
  echo "creating venv094 (otree-redwood==0.9.4 from PyPI) ..."
  rm -rf venv094
  "$PY38" -m venv venv094
  venv094/bin/pip install -q --upgrade pip >/dev/null
  # 0.9.4 itself needs jsonfield and mockredispy; oTree 3.4's resolution is
  # pinned so that pip does not wander through Twisted releases
  venv094/bin/pip install -q otree==3.4.0 jsonfield==3.1.0 Twisted==22.10.0 idna==3.10 hyperlink==21.0.0 \
    otree-redwood==0.9.4 websockets==13.1 > logs/pip094.log 2>&1 || { tail -20 logs/pip094.log; exit 1; }
  touch venv094/.complete
fi
if [ ! -f proj094/.complete ]; then
  rm -rf proj094
  printf 'n\n' | venv094/bin/otree startproject proj094 > logs/startproject094.log 2>&1
  cat >> proj094/settings.py <<'EOF'

EXTENSION_APPS = ['otree_redwood']
from cmp_session_configs import CMP_SESSION_CONFIGS  # noqa: E402
SESSION_CONFIGS = SESSION_CONFIGS + CMP_SESSION_CONFIGS
EOF
  touch proj094/.complete
fi
rm -rf proj094/cmpapp
cp -r "$HERE/app/cmpapp" "$HERE/app/cmp_session_configs.py" proj094/

# ---- ours: a snapshot of the repository at OURS_REF ----
if [ -n "${OURS_VENV:-}" ]; then :
elif [ -x "$REPO/.venv/bin/python" ]; then OURS_VENV=$REPO/.venv
else
  OURS_VENV=$WORK/venv-ours
  if [ ! -f "$OURS_VENV/.complete" ]; then
    echo "creating venv-ours (pip install -e $REPO) ..."
    rm -rf "$OURS_VENV"
    "$PY38" -m venv "$OURS_VENV"
    "$OURS_VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$OURS_VENV/bin/pip" install -q -e "$REPO" websockets==13.1 > logs/pipours.log 2>&1 || { tail -20 logs/pipours.log; exit 1; }
    touch "$OURS_VENV/.complete"
  fi
fi
rm -rf ours_src projours && mkdir ours_src
git -C "$REPO" archive "$OURS_REF" otree_redwood example_project | tar -x -C ours_src
OURS_COMMIT=$(git -C "$REPO" rev-parse "$OURS_REF")
echo "$OURS_COMMIT" > ours_src/COMMIT
echo "ours: $OURS_COMMIT ($OURS_REF)"
mv ours_src/example_project projours
cp -r "$HERE/app/cmpapp" "$HERE/app/cmp_session_configs.py" projours/
cat >> projours/settings.py <<'EOF'

from cmp_session_configs import CMP_SESSION_CONFIGS  # noqa: E402
SESSION_CONFIGS += CMP_SESSION_CONFIGS
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -- "-$p" 2>/dev/null || true; done; }
trap cleanup EXIT

REDIS_PORT=$(free_port)
ENV094=(env PATH="$WORK/venv094/bin:$PATH" DATABASE_URL="sqlite:///$WORK/db094.sqlite3" PYTHONUNBUFFERED=1)
ENVOURS=(env PATH="$OURS_VENV/bin:$PATH" PYTHONPATH="$WORK/ours_src" DATABASE_URL="sqlite:///$WORK/dbours.sqlite3"
         REDWOOD_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" PYTHONUNBUFFERED=1)
WHERE=$("${ENVOURS[@]}" "$OURS_VENV/bin/python" -c 'import os, otree_redwood; print(os.path.dirname(otree_redwood.__file__))')
[ "$WHERE" = "$WORK/ours_src/otree_redwood" ] || { echo "run.sh: ours imports $WHERE, not the snapshot" >&2; exit 1; }

rm -f db094.sqlite3* dbours.sqlite3*
(cd proj094 && "${ENV094[@]}" otree resetdb --noinput > ../logs/resetdb094.log 2>&1 \
  && "${ENV094[@]}" otree collectstatic --noinput -v 0)
(cd projours && "${ENVOURS[@]}" otree resetdb --noinput > ../logs/resetdbours.log 2>&1 \
  && "${ENVOURS[@]}" otree collectstatic --noinput -v 0)

setsid redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no > logs/redis.log 2>&1 &
PIDS+=($!)
P094=$(free_port)
POURS=$(free_port)
# 0.9.4 runs on oTree 3.4's in-memory channel layer: it needs no Redis
(cd proj094 && exec setsid "${ENV094[@]}" otree prodserver "127.0.0.1:$P094" --no-collectstatic > "$WORK/logs/server094.log" 2>&1) &
PIDS+=($!)
(cd projours && exec setsid "${ENVOURS[@]}" otree prodserver "127.0.0.1:$POURS" --no-collectstatic > "$WORK/logs/serverours.log" 2>&1) &
PIDS+=($!)
for log in logs/server094.log logs/serverours.log; do
  for _ in $(seq 120); do grep -q "Running on" "$log" 2>/dev/null && break; sleep 0.5; done
  grep -q "Running on" "$log" || { echo "run.sh: server did not start: $log" >&2; tail -30 "$log"; exit 1; }
done

# one period: SERVER CLIENT CONFIG SCRIPT REP
play() {
  local srv=$1 client=$2 cfg=$3 script=$4 rep=$5
  local out="out/${cfg#cmp_}-$script$rep-${srv}srv-$client.json"
  if [ "$srv" = 094 ]; then
    "${ENV094[@]}" venv094/bin/python "$HERE/drive.py" --impl 094 --project proj094 --port "$P094" \
      --config "$cfg" --client "$client" --script "$script" --rep "$rep" --burst "$BURST" --out "$out" | tail -1
  else
    "${ENVOURS[@]}" "$OURS_VENV/bin/python" "$HERE/drive.py" --impl ours --project projours --port "$POURS" \
      --config "$cfg" --client "$client" --script "$script" --rep "$rep" --burst "$BURST" --out "$out" | tail -1
  fi
}

started=$(date +%s)
case " $SCRIPTS " in *" normal "*)
  for cfg in cmp_plain cmp_subperiods cmp_ratelimit; do
    for client in 094js oursjs; do
      play 094 "$client" "$cfg" normal 1
      play ours "$client" "$cfg" normal 1
    done
  done ;;
esac
case " $SCRIPTS " in *" late "*)
  for i in $(seq "$REPEAT"); do
    for cfg in cmp_ratelimit cmp_subperiods; do
      play 094 094js "$cfg" late "$i"
      play ours oursjs "$cfg" late "$i"
    done
  done ;;
esac
case " $SCRIPTS " in *" burst "*)
  for cfg in cmp_plain cmp_ratelimit; do
    play 094 094js "$cfg" burst 1
    play ours oursjs "$cfg" burst 1
  done ;;
esac

# each server with its own page; then the two crossed pairs
MATCHED=$(ls out/*-094srv-094js.json out/*-ourssrv-oursjs.json 2>/dev/null | sort || true)
CROSSED=$(ls out/*-094srv-oursjs.json out/*-ourssrv-094js.json 2>/dev/null | sort || true)
SUM=(python3 "$HERE/summarize.py")
{
  echo "### Each server with its own page"
  echo
  "${SUM[@]}" --table $MATCHED
  if [ -n "$CROSSED" ]; then
    echo
    echo "### Crossed: 0.9.4 server with our page, our server with 0.9.4's page"
    echo
    "${SUM[@]}" --table $CROSSED
  fi
} > summary.md
python3 "$HERE/payoff_check.py" $(ls out/*.json | sort) > payoffs.md
"${SUM[@]}" $MATCHED $CROSSED > full.txt
for f in $(ls out/*-094srv-094js.json | sort); do
  "${SUM[@]}" --side-by-side "$f" "${f%-094srv-094js.json}-ourssrv-oursjs.json"
  echo
done > sidebyside.txt

echo
echo "ours: $OURS_COMMIT ($OURS_REF); 0.9.4: $("$WORK/venv094/bin/pip" show otree-redwood 2>/dev/null | sed -n 's/^Version: //p') from PyPI"
echo "runs took $(( $(date +%s) - started )) s"
echo
echo "## Summary (ms after each run's period_start event)"
echo
cat summary.md
echo
echo "## Payoff check (time-average decision by the 0.9.x payoff formula; see payoff_check.py)"
echo
cat payoffs.md
echo
echo "every event of every run: $WORK/full.txt; side by side: $WORK/sidebyside.txt; dumps: $WORK/out/"
