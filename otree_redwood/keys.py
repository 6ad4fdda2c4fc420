"""Every Redis key, pub/sub channel and timer id of otree-redwood, in one place.

All live under ``<KEY_PREFIX>:<namespace id>:`` (redis_conn.key), so two
databases or two projects never share one.  ``gk`` is a group key,
``"<app>:<group pk>"``.  Timer ids are members of the timer sets; the
prefix tells what a timer does.
"""
from . import redis_conn

# ---- a group's live state ----


def group_seq(gk):
    """Its sequence counter; also the marker that its state is in Redis."""
    return redis_conn.key("seq", gk)


def group_decisions(gk):
    """Hash: participant code -> decision (JSON)."""
    return redis_conn.key("dec", gk)


def group_ratelimit(gk):
    """Hash: the rate limit's flags (``dirty``)."""
    return redis_conn.key("rl", gk)


def group_sockets(gk):
    """Hash: socket id -> ``code|process``."""
    return redis_conn.key("sock", gk)


def group_timers(gk):
    """Set of the ids of a group's timers (cancelled together at period end)."""
    return redis_conn.key("gtimers", gk)


def group_bus(session_code, app_name, pk):
    """Pub/sub channel of a group's frames."""
    return redis_conn.key("bus", session_code, app_name, pk)


def session_bus_prefix(session_code):
    """Prefix of the bus channels of a session's groups (the admin's stream)."""
    return redis_conn.key("bus", session_code) + ":"


def session_monitor(session_code):
    """Pub/sub channel of the live monitor's reports for a session."""
    return redis_conn.key("mon", session_code)


# ---- processes and the scheduler ----


def process_alive(process_id):
    """Set while a server process beats (its sockets count as connected)."""
    return redis_conn.key("proc", process_id)


def scheduler_wake():
    """Pub/sub channel: a timer was added; schedulers look again."""
    return redis_conn.key("wake")


def timer_lateness():
    """List of ``kind|timer id|due ms|lateness ms`` of fired ticks (benchmarks, tests)."""
    return redis_conn.key("lateness")


def timer_set(owner=None):
    """Sorted set of timers by due time (shared, or one process's own)."""
    return redis_conn.key("timers", "p", owner) if owner else redis_conn.key("timers")


def timer_hash_prefix():
    return redis_conn.key("timer") + ":"


def timer_hash(timer_id):
    return timer_hash_prefix() + timer_id


def group_timers_prefix():
    return redis_conn.key("gtimers") + ":"


def timers_present():
    """Sentinel: the timers are in Redis (gone after a loss: re-arm them)."""
    return redis_conn.key("timers-ok")


def timers_recovering():
    """Lock of the one scheduler that re-arms lost timers."""
    return redis_conn.key("timers-recovering")


# ---- other features ----


def absent_force(gk):
    return redis_conn.key("absent", "force", gk)


def absent_armed(gk):
    return redis_conn.key("absent", "armed", gk)


def browser_binding(participant_code):
    return redis_conn.key("browser", participant_code)


# ---- timer ids (no prefix: they are members of the timer sets) ----


def period_end_timer(gk):
    return "pe:" + gk


def subperiod_timer(gk):
    return "sp:" + gk


def ratelimit_timer(gk):
    return "rl:" + gk


def emitter_timer(gk, name):
    return "em:%s:%s" % (gk, name)


def absent_timer(gk):
    return "ab:" + gk
