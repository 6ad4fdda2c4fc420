"""What fired timers and the Group code's schedules do: synchronous actions on the database thread.

timers.py keeps timers in Redis and knows nothing of groups; this module is
what they do when they fire (period end, sub-period end of an app that
overrides ``_subperiod_tick``, an emitter's tick, a start without absent
members), what the Group code schedules (sub-periods, emitters), and the
re-arming of every running period after Redis lost its timers.
"""
import logging
import uuid

from . import absent, errors, host, keys, lifecycle, messaging, protocol, redis_conn, timers

logger = logging.getLogger(__name__)


def start_subperiods(group):
    """Schedule sub-period ends 1..n-1; sub-period n ends with the period."""
    n = group.num_subperiods()
    length = group.period_length()
    if not n or not length:
        return
    info = host.current().info_for(group)
    t0 = getattr(group, "_redwood_t0", None) or protocol.now_ms()
    interval = float(length) * 1000.0 / int(n)
    if int(n) > 1:
        timers.schedule_sync(keys.subperiod_timer(info.gk), "subperiod", info.gk, t0 + interval, interval,
                             int(n) - 1)




def schedule_emitter(group, interval_s, period_length_s, callback, start_immediate=False, name=None):
    """Persist a DiscreteEventEmitter; return (timer id, group key, owner)."""
    info = host.current().info_for(group)
    interval_ms = float(interval_s) * 1000.0
    intervals = float(period_length_s) / float(interval_s)
    count = int(intervals) if float(intervals).is_integer() else int(intervals) + 1
    if count <= 0:
        return None, None, None
    t0 = protocol.now_ms()
    first = t0 if start_immediate else t0 + interval_ms
    method = None
    if getattr(callback, "__self__", None) is not None and hasattr(callback, "__func__"):
        owner_obj = callback.__self__
        # a method of this group (any object of its row): named in Redis, so
        # any process can run it (groups have no ``pk`` on oTree 6: compare infos)
        if type(owner_obj) is type(group) and (
                owner_obj is group or host.current().info_for(owner_obj).gk == info.gk):
            method = callback.__func__.__name__
    timer_id = keys.emitter_timer(info.gk, name or uuid.uuid4().hex[:12])
    data = {"intervals": intervals}
    if method:
        data["method"] = method
        # kept in the database too: recover_sync re-arms it after Redis lost it
        host.current().save_emitter(timer_id, info.gk, first, interval_ms, count, data)
        timers.schedule_sync(timer_id, "emitter", info.gk, first, interval_ms, count, data)
        return timer_id, info.gk, None
    if not callable(callback):
        raise TypeError("DiscreteEventEmitter callback must be callable, not %r" % (callback,))
    # a plain function, lambda or closure cannot be named in Redis: only this
    # process can run it (as in 0.9.x, where every emitter lived in one process)
    ref = "cb%d" % next(timers._local_counter)
    timers._local_callbacks[ref] = callback
    data["ref"] = ref
    timers._local_timers[timer_id] = {"gk": info.gk + ":local", "first": first, "interval": interval_ms,
                               "n": count, "data": dict(data), "done": 0}
    timers.schedule_sync(timer_id, "emitter", info.gk + ":local", first, interval_ms, count, data,
                         owner=timers.process_token())
    return timer_id, info.gk + ":local", timers.process_token()





# ---- synchronous actions of fired timers (run in the pipeline's DB thread) ----

def run_period_end(gk):
    # the row lock makes concurrent ends of one period (a repaired one, see
    # lifecycle._repair_period_end) take turns on PostgreSQL; SQLite's
    # BEGIN IMMEDIATE does it there
    try:
        group = host.current().load_group(gk, lock=True)
    except errors.Refused:
        logger.warning("period end of %s: the group no longer exists", gk)
        return
    lifecycle.end_period(group)


def run_subperiod(tick):
    """A sub-period end of an app that overrides DecisionGroup._subperiod_tick."""
    h = host.current()
    try:
        group = h.load_group(tick.gk, lock=True)
    except errors.Refused:
        logger.warning("sub-period end of %s: the group no longer exists", tick.gk)
        return
    lifecycle.refresh_live_state(group)
    info = h.info_for(group)
    group._subperiod_tick(tick.k, float(info.num_subperiods))


def run_emitter(tick):
    gk = tick.gk[:-len(":local")] if tick.gk.endswith(":local") else tick.gk
    data = tick.data or {}
    if "ref" in data:
        callback = timers._local_callbacks.get(data["ref"])
        if callback is None:
            logger.warning("emitter %s: callback not in this process", tick.id)
            return
        # re-armed after a loss, tick k of the timer is tick base + k of the emitter
        k, total = int(data.get("base", 0)) + tick.k, int(data.get("base", 0)) + tick.n
        entry = timers._local_timers.get(tick.id)
        if entry is not None:
            if "base" in data and k < entry["done"]:
                return  # it ran before the timer was re-armed
            entry["done"] = max(entry["done"], k + 1)
        callback(k, data["intervals"])
        if k + 1 >= total:
            timers._local_callbacks.pop(data["ref"], None)
            timers._local_timers.pop(tick.id, None)
        return
    base = int(data.get("base", 0))
    k, total = base + tick.k, base + tick.n
    counted, exists = host.current().count_emitter_tick(tick.id, k, total)
    if not counted and "base" in data and exists:
        # re-armed from the database while the original tick was still on
        # its way in another process: it ran there
        return
    group = host.current().load_group(gk)
    lifecycle.refresh_live_state(group)
    getattr(group, data["method"])(k, data["intervals"])




def recover_sync():
    """Re-arm the timers of every group whose period runs; return how many.

    A running period: started and no ``period_end`` stored.  Its period end
    is due at the stored start plus period_length (at once, if that has
    passed); sub-periods resume after the ones stored; emitters after the
    ticks their record counts.
    """
    h = host.current()
    armed = 0
    running = set()
    for info, t0 in h.running_periods():
        running.add(info.gk)
        armed += _rearm_period(info, t0)
    for timer_id, gk, first_ms, interval_ms, n, done, data in h.emitters(sorted(running)) if running else ():
        if done >= n:
            continue
        data = dict(data or {}, base=done)
        timers.schedule_sync(timer_id, "emitter", gk, first_ms + done * interval_ms, interval_ms, n - done, data)
        armed += 1
    if armed:
        logger.warning("redwood: Redis had lost its timers; re-armed %d timer(s) of %d running period(s)",
                       armed, len(running))
    return armed


def _rearm_period(info, t0):
    armed = 0
    if info.period_length:
        timers.schedule_period_end(info, t0)
        armed += 1
    n = int(info.num_subperiods or 0)
    if n > 1 and info.period_length:
        interval = float(info.period_length) * 1000.0 / n
        # one stored map per sub-period that has ended
        ended = host.current().maps_since(info, t0)
        left = n - 1 - ended
        if left > 0:
            timers.schedule_sync(keys.subperiod_timer(info.gk), "subperiod", info.gk, t0 + (ended + 1) * interval,
                          interval, left)
            armed += 1
    grid = timers.rate_limit_grid(info)
    if grid:
        interval, n = grid
        # the next grid tick from now; ticks missed while Redis was away
        # come down to one, late (a tick only sends what changed)
        k = max(1, int((protocol.now_ms() - t0) // interval) + 1)
        if k <= n:
            timers.schedule_sync(info.ratelimit_timer, "ratelimit", info.gk, t0 + k * interval, interval, n - k + 1)
            armed += 1
    return armed


# ---- a start without the absent members (absent.py) ----

def run_absent_timer(tick):
    """The ``absent_start`` timer fired: start the group's period with whoever is there."""
    try:
        group = host.current().load_group(tick.gk)
    except errors.Refused:
        logger.warning("start without absent members: the group %s no longer exists", tick.gk)
        return False
    reason = (tick.data or {}).get("reason") or "timeout"
    return start_without_absent(host.current().info_for(group), reason)


def start_without_absent(info, reason):
    """Start the period now if it has not started; record who was absent."""
    h = host.current()
    if h.start_times([info]).get(info.gk) is not None:
        return False
    connected = set(lifecycle.live_sockets(info).values())
    missing = [code for code in info.members if code not in connected]
    redis_conn.get_sync().set(absent._force_key(info.gk), reason)
    if not lifecycle.ready_phase(info):
        return False
    if missing:
        logger.warning("group %s started without %s (%s)", info.gk, ", ".join(missing), reason)
        group = h.load_group(info.gk)
        messaging.send_sync(group, "redwood", {"event": "started_without", "absent": missing, "reason": reason})
    return True
