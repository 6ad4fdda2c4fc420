"""Members who never connect: start the period without them.

A group's period starts when every member is connected (as in 0.9.x), so a
participant who never opens the page (a no-show, a crashed lab PC) keeps the
rest of the group waiting for ever.  Two ways out, both off unless asked for:

* ``REDWOOD["START_WITHOUT_ABSENT_AFTER"] = 60``: once the first member of a
  group has connected, the period starts at most 60 seconds later, with
  whoever is connected by then;
* the live monitor's *Start now* button (``POST
  /redwood/monitor/session/<code>/start/``, admin login): the same, at once.

Either way the period starts exactly as usual (``when_all_players_ready``
runs once; a DecisionGroup's initial map holds every member's
``initial_decision()``, the absent ones' too), and the group's record gets a
server event on channel ``redwood``::

    {"event": "started_without", "absent": ["<code>", ...], "reason": "timeout" | "admin"}

A member who connects later joins the running period (the server replays
``period_start`` and the current map), like a member who reconnects.

The start is a scheduler timer of kind ``absent_start`` (runtime runs it on
its database thread); the admin action only schedules it, due at once, so
that every start of a group goes through the same place.
"""
import logging

from . import conf, groupinfo, host, keys, protocol, redis_conn, timers

logger = logging.getLogger(__name__)

TIMER_KIND = "absent_start"


def _force_key(gk):
    return keys.absent_force(gk)


def _armed_key(gk):
    return keys.absent_armed(gk)


def timer_id(gk):
    return keys.absent_timer(gk)


def wait_seconds():
    """The START_WITHOUT_ABSENT_AFTER setting as seconds, or None (wait for everyone)."""
    raw = conf.get("START_WITHOUT_ABSENT_AFTER")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        logger.error("REDWOOD['START_WITHOUT_ABSENT_AFTER'] must be a number of seconds or None, not %r", raw)
        return None
    return max(0.0, value)


def may_start(info, connected_codes):
    """Called by lifecycle.ready_phase when some member is not connected.

    True when the period may start anyway (a start without the absent
    members was ordered); else arms the timeout on the group's first
    connect, when the setting asks for one, and returns False.
    """
    r = redis_conn.get_sync()
    if r.exists(_force_key(info.gk)):
        return True
    after = wait_seconds()
    if after is not None and connected_codes and r.set(_armed_key(info.gk), "1", nx=True):
        timers.schedule_sync(timer_id(info.gk), TIMER_KIND, info.gk, protocol.now_ms() + after * 1000.0,
                             data={"reason": "timeout"})
    return False


def request_start(app_name, group_pk, reason="admin"):
    """Order a start without the absent members, at once (the admin action).

    Only schedules it: the scheduler of a server process runs it.  Returns
    False when the group's period has already started.
    """
    gk = groupinfo.group_key(app_name, group_pk)
    group = host.current().load_group(gk)
    if group.ran_ready_function is not None:
        return False
    timers.schedule_sync(timer_id(gk), TIMER_KIND, gk, protocol.now_ms(), data={"reason": reason})
    return True
