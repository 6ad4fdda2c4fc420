"""Timers that live in Redis: period ends, sub-periods, rate limits, emitters.

A timer is a member of the sorted set ``rw:timers`` scored by its due time
(ms since the epoch) plus a hash ``rw:timer:<id>`` that says what it does.  A
periodic timer fires ``n`` times: tick ``k`` is due at ``first + k*interval``
(no drift accumulates).  Every scheduler claims due timers with one Lua script
that removes each tick from the set (and puts the next tick back) atomically,
so each tick fires exactly once whatever the number of processes, and a tick
that came due while no process ran fires as soon as one is back: late, never
lost, never twice.

The scheduler runs inside each server process (see runtime.Runtime) or alone
through ``otree redwood_scheduler``.

Redis may lose every timer (a restart without persistence, FLUSHALL, a
fail-over).  A sentinel key says that the timers are there: the claim script
reports when it is missing, and one scheduler then re-arms the timers of
every running period from the database (recover_sync): period ends and
sub-periods from the stored period start, emitters of Group methods from
their EmitterRecord.  A tick that came due meanwhile fires once, late.
"""
import itertools
import json
import logging
import math
import os
import uuid

from . import keys, redis_conn

logger = logging.getLogger(__name__)

# KEYS: the timer sorted sets to claim from (shared, this process's own)
# ARGV: now_ms, limit, timer hash prefix, group set prefix[, sentinel key]
# Returns {next_due, t1 fields.., t2 fields.., ...}: next_due is the score of
# the earliest timer left in any of the sets ('' when they are empty), so one
# round trip both claims what is due and tells the scheduler how long to sleep.
CLAIM_LUA = r"""
local limit = tonumber(ARGV[2])
local out = {''}
local taken = 0
for z = 1, #KEYS do
  if taken >= limit then break end
  local ids = redis.call('ZRANGEBYSCORE', KEYS[z], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, limit - taken)
  for i = 1, #ids, 2 do
    local id = ids[i]
    local score = ids[i + 1]
    local hk = ARGV[3] .. id
    local h = redis.call('HMGET', hk, 'kind', 'group', 'k', 'n', 'first', 'interval', 'data')
    redis.call('ZREM', KEYS[z], id)
    taken = taken + 1
    if h[1] then
      local k = tonumber(h[3]) or 0
      local n = tonumber(h[4]) or 1
      if k + 1 < n then
        redis.call('HSET', hk, 'k', k + 1)
        redis.call('ZADD', KEYS[z], tonumber(h[5]) + (k + 1) * tonumber(h[6]), id)
      else
        redis.call('DEL', hk)
        if h[2] then redis.call('SREM', ARGV[4] .. h[2], id) end
      end
      table.insert(out, id)
      table.insert(out, h[1])
      table.insert(out, h[2] or '')
      table.insert(out, tostring(k))
      table.insert(out, tostring(n))
      table.insert(out, score)
      table.insert(out, h[7] or '')
    end
  end
end
local next_due = nil
for z = 1, #KEYS do
  local head = redis.call('ZRANGE', KEYS[z], 0, 0, 'WITHSCORES')
  if head[2] then
    local sc = tonumber(head[2])
    if next_due == nil or sc < next_due then next_due = sc end
  end
end
if next_due ~= nil then out[1] = string.format('%.3f', next_due) end
if ARGV[5] and redis.call('EXISTS', ARGV[5]) == 0 then out[1] = '!' .. out[1] end
return out
"""

# KEYS: zset, group set ; ARGV: timer hash prefix
CANCEL_GROUP_LUA = r"""
local ids = redis.call('SMEMBERS', KEYS[2])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[2])
return #ids
"""

# process-local callbacks (plain functions that cannot be named in Redis)
_local_callbacks = {}
# their schedules and progress, to re-arm them if Redis loses them:
# timer id -> {"gk", "first", "interval", "n", "data", "done"}
_local_timers = {}
_local_counter = itertools.count(1)
_process_token = "%s-%s" % (os.getpid(), uuid.uuid4().hex[:8])


def process_token():
    return _process_token


def zset_key(owner=None):
    return keys.timer_set(owner)


def hash_prefix():
    return keys.timer_hash_prefix()


def group_set_prefix():
    return keys.group_timers_prefix()


class Tick:
    """One claimed firing of a timer."""

    __slots__ = ("id", "kind", "gk", "k", "n", "due_ms", "data")

    def __init__(self, id, kind, gk, k, n, due_ms, data):
        self.id, self.kind, self.gk = id, kind, gk
        self.k, self.n, self.due_ms, self.data = k, n, due_ms, data

    def __repr__(self):
        return "Tick(%s %s k=%s/%s)" % (self.kind, self.gk, self.k, self.n)


def parse_claim_reply(flat):
    """(ticks, next due ms or None) from a CLAIM_LUA reply."""
    ticks, next_due, _ = parse_claim_state(flat)
    return ticks, next_due


def parse_claim_state(flat):
    """(ticks, next due ms or None, timers lost) from a CLAIM_LUA reply."""
    s = lambda b: b.decode("utf-8") if isinstance(b, bytes) else b  # noqa: E731
    head = s(flat[0]) if flat else ""
    lost = head.startswith("!")
    head = head.lstrip("!")
    ticks = []
    for i in range(1, len(flat), 7):
        data = s(flat[i + 6])
        ticks.append(
            Tick(
                s(flat[i]), s(flat[i + 1]), s(flat[i + 2]), int(s(flat[i + 3])),
                int(s(flat[i + 4])), float(s(flat[i + 5])), json.loads(data) if data else None,
            )
        )
    return ticks, (float(head) if head else None), lost


def parse_claim(flat):
    """The ticks of a CLAIM_LUA reply."""
    return parse_claim_reply(flat)[0]


def schedule_sync(timer_id, kind, gk, first_ms, interval_ms=0.0, n=1, data=None, owner=None):
    """Add (or replace) a timer; ``n`` ticks, the first at ``first_ms``."""
    r = redis_conn.get_sync()
    hk = hash_prefix() + timer_id
    pipe = r.pipeline(transaction=True)
    pipe.delete(hk)
    pipe.hset(
        hk,
        mapping={
            "kind": kind, "group": gk, "k": 0, "n": int(n),
            "first": repr(float(first_ms)), "interval": repr(float(interval_ms)),
            "data": json.dumps(data) if data is not None else "",
        },
    )
    pipe.zadd(zset_key(owner), {timer_id: float(first_ms)})
    if gk:
        pipe.sadd(group_set_prefix() + gk, timer_id)
    pipe.execute()
    wake_schedulers()
    return timer_id


def cancel_sync(timer_id, gk=None, owner=None):
    _local_timers.pop(timer_id, None)
    r = redis_conn.get_sync()
    pipe = r.pipeline(transaction=True)
    pipe.zrem(zset_key(owner), timer_id)
    pipe.delete(hash_prefix() + timer_id)
    if gk:
        pipe.srem(group_set_prefix() + gk, timer_id)
    pipe.execute()


def cancel_group_sync(gk):
    """Cancel every timer of a group (at period end)."""
    r = redis_conn.get_sync()
    n = r.eval(CANCEL_GROUP_LUA, 2, zset_key(), group_set_prefix() + gk, hash_prefix())
    n2 = r.eval(CANCEL_GROUP_LUA, 2, zset_key(_process_token), group_set_prefix() + gk + ":local", hash_prefix())
    # a rate-limit flush was cancelled with the rest: forget that it is pending
    r.hset(keys.group_ratelimit(gk), "pending", 0)
    for timer_id, entry in list(_local_timers.items()):
        if entry["gk"] == gk + ":local":
            _local_timers.pop(timer_id, None)
    return int(n) + int(n2)


def is_scheduled(timer_id, owner=None):
    """Whether a timer waits in Redis (claimed ones no longer do)."""
    return redis_conn.get_sync().zscore(zset_key(owner), timer_id) is not None


def pending_for_group_sync(gk):
    r = redis_conn.get_sync()
    return sorted(m.decode() for m in r.smembers(group_set_prefix() + gk))


#: Callables run when a timer is added (the runtimes of this process register
#: one each, to wake their scheduler without waiting for Redis's message).
local_wakers = []


def wake_schedulers():
    """Tell the schedulers that a timer was added (this process and others)."""
    for wake in list(local_wakers):
        wake()
    try:
        redis_conn.get_sync().publish(keys.scheduler_wake(), "1")
    except Exception:  # a missing wake-up only delays a timer by SCHEDULER_POLL
        logger.debug("could not publish scheduler wake-up", exc_info=True)


# ---- what the Group code schedules ----

def schedule_period_end(info, t0_ms):
    if info.period_length:
        schedule_sync(keys.period_end_timer(info.gk), "period_end", info.gk, t0_ms + float(info.period_length) * 1000.0)


#: Ticks of a rate limit without a period end (0.9.x needed a period_length)
_ENDLESS = 10 ** 9


def rate_limit_grid(info):
    """(interval ms, number of ticks) of a group's rate limit, or None.

    Ticks at start + k * rate_limit() for every k >= 1 before the period end;
    the period end itself flushes what changed after the last tick.
    """
    if not info.rate_limit or (info.num_subperiods and info.period_length):
        return None
    interval = float(info.rate_limit) * 1000.0
    if interval <= 0:
        return None
    if not info.period_length:
        return interval, _ENDLESS
    length = float(info.period_length) * 1000.0
    return interval, max(0, int(math.ceil(length / interval - 1e-9)) - 1)


def start_rate_limit(info, t0_ms):
    """Schedule the broadcast grid of a rate-limited group (as 0.9.x's emitter did)."""
    grid = rate_limit_grid(info)
    if grid and grid[1] > 0:
        interval, n = grid
        schedule_sync(info.ratelimit_timer, "ratelimit", info.gk, t0_ms + interval, interval, n)


# ---- after Redis lost its timers ----

def sentinel_key():
    """Exists while Redis holds the timers (set by recover_sync's caller)."""
    return keys.timers_present()


def recovery_lock_key():
    return keys.timers_recovering()


def rearm_local_sync():
    """Re-arm this process's plain-function emitters (after Redis lost its timers)."""
    for timer_id, entry in list(_local_timers.items()):
        left = entry["n"] - entry["done"]
        if left <= 0:
            continue
        schedule_sync(timer_id, "emitter", entry["gk"], entry["first"] + entry["done"] * entry["interval"],
                      entry["interval"], left, dict(entry["data"], base=entry["done"]), owner=_process_token)
    return len(_local_timers)


def has_local_timers():
    return bool(_local_timers)


