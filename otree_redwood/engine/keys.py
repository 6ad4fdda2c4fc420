"""Every Redis key, pub/sub channel and timer id of otree-redwood, in one place.

All live under ``<KEY_PREFIX>:<namespace id>:`` (keys.key), so two
databases or two projects never share one.  ``gk`` is a group key,
``"<app>:<group pk>"``.  Timer ids are members of the timer sets; the
prefix tells what a timer does.
"""
import threading

from . import conf

# The namespace: the id of the database in Redis, which every key carries.
# The host adapter stores it in its database and says how to load it
# (set_namespace_loader); the engine only caches it.
_loader = None
_namespace = None
_lock = threading.Lock()


def set_namespace_loader(fn):
    """``fn()`` returns this database's namespace id (made on first use); set by the host."""
    global _loader
    _loader = fn
    forget_namespace()


def namespace():
    """The id of this database in Redis (see the host's RedisNamespace).

    Group primary keys start again at 1 after ``otree resetdb``, and two
    projects may share one Redis: keys that carry the id of the database
    they belong to never meet state of another one.
    """
    global _namespace
    ns = _namespace
    if ns is None:
        with _lock:
            if _namespace is None:
                if _loader is None:
                    raise RuntimeError("otree-redwood: no host adapter has set the Redis namespace loader")
                _namespace = _loader()
            ns = _namespace
    return ns


def forget_namespace():
    """Look the namespace up again on next use (tests that swap databases)."""
    global _namespace
    with _lock:
        _namespace = None


def key(*parts):
    """A Redis key or pub/sub channel of this database, under KEY_PREFIX."""
    return ":".join([conf.get("KEY_PREFIX"), namespace()] + [str(p) for p in parts])


# ---- a group's live state ----


def group_seq(gk):
    """Its sequence counter; also the marker that its state is in Redis."""
    return key("seq", gk)


def group_decisions(gk):
    """Hash: participant code -> decision (JSON)."""
    return key("dec", gk)


def group_ratelimit(gk):
    """Hash: the rate limit's flags (``dirty``)."""
    return key("rl", gk)


def group_sockets(gk):
    """Hash: socket id -> ``code|process``."""
    return key("sock", gk)


def group_timers(gk):
    """Set of the ids of a group's timers (cancelled together at period end)."""
    return key("gtimers", gk)


def group_bus(session_code, app_name, pk):
    """Pub/sub channel of a group's frames."""
    return key("bus", session_code, app_name, pk)


def session_bus_prefix(session_code):
    """Prefix of the bus channels of a session's groups (the admin's stream)."""
    return key("bus", session_code) + ":"


def session_monitor(session_code):
    """Pub/sub channel of the live monitor's reports for a session."""
    return key("mon", session_code)


# ---- processes and the scheduler ----


def process_alive(process_id):
    """Set while a server process beats (its sockets count as connected)."""
    return key("proc", process_id)


def scheduler_wake():
    """Pub/sub channel: a timer was added; schedulers look again."""
    return key("wake")


def timer_lateness():
    """List of ``kind|timer id|due ms|lateness ms`` of fired ticks (benchmarks, tests)."""
    return key("lateness")


def timer_set(owner=None):
    """Sorted set of timers by due time (shared, or one process's own)."""
    return key("timers", "p", owner) if owner else key("timers")


def timer_hash_prefix():
    return key("timer") + ":"


def timer_hash(timer_id):
    return timer_hash_prefix() + timer_id


def group_timers_prefix():
    return key("gtimers") + ":"


def timers_present():
    """Sentinel: the timers are in Redis (gone after a loss: re-arm them)."""
    return key("timers-ok")


def timers_recovering():
    """Lock of the one scheduler that re-arms lost timers."""
    return key("timers-recovering")


# ---- other features ----


def absent_force(gk):
    return key("absent", "force", gk)


def absent_armed(gk):
    return key("absent", "armed", gk)


def browser_binding(participant_code):
    return key("browser", participant_code)


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
