"""Live group state in Redis: decisions, sequence numbers, rate limits.

Every read-modify-write of a group's state is one Lua script, so it is atomic
across server processes: two decisions that arrive at once in two processes
both land, and the map broadcast after each is the one that holds then.  The
database gets a copy of the map with every batch (write-behind); Redis is the
live copy while a period runs.
"""
import json

from . import protocol, redis_conn

# KEYS: dec, seq, rl, timers zset, group timer set, timer hash
# ARGV: code, value_json, mode ('now'|'store'|'rate'), now_ms, interval_ms, timer_id, gk
DECIDE_LUA = r"""
if redis.call('EXISTS', KEYS[1]) == 0 then
  -- no map yet: when_all_players_ready has not run; as in 0.9.x the
  -- decision changes nothing and nothing is broadcast
  return {-1}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local mode = ARGV[3]
if mode == 'store' then
  return {0}
end
if mode == 'rate' then
  local now = tonumber(ARGV[4])
  local interval = tonumber(ARGV[5])
  local rl = redis.call('HMGET', KEYS[3], 'last', 'pending')
  local last = tonumber(rl[1]) or -1e18
  local pending = tonumber(rl[2]) or 0
  if pending == 0 and now - last >= interval then
    redis.call('HSET', KEYS[3], 'last', now, 'dirty', 0)
  else
    redis.call('HSET', KEYS[3], 'dirty', 1)
    if pending == 0 then
      local due = last + interval
      if due < now then due = now end
      redis.call('HSET', KEYS[3], 'pending', 1)
      redis.call('HSET', KEYS[6], 'kind', 'ratelimit', 'group', ARGV[7], 'k', 0, 'n', 1,
                 'first', due, 'interval', 0)
      redis.call('ZADD', KEYS[4], due, ARGV[6])
      redis.call('SADD', KEYS[5], ARGV[6])
    end
    return {0}
  end
end
local seq = redis.call('INCR', KEYS[2])
return {seq, redis.call('HGETALL', KEYS[1])}
"""

# KEYS: dec, seq, rl ; ARGV: now_ms, only_if_dirty (0|1)
SNAPSHOT_LUA = r"""
if ARGV[2] == '1' then
  local dirty = tonumber(redis.call('HGET', KEYS[3], 'dirty')) or 0
  redis.call('HSET', KEYS[3], 'pending', 0)
  if dirty == 0 then return {0} end
  redis.call('HSET', KEYS[3], 'dirty', 0, 'last', ARGV[1])
end
local seq = redis.call('INCR', KEYS[2])
return {seq, redis.call('HGETALL', KEYS[1])}
"""

_scripts = {}


def script(client, name):
    """The registered script ``name`` for a client (sync or async)."""
    k = (id(client), name)
    s = _scripts.get(k)
    if s is None:
        s = client.register_script({"decide": DECIDE_LUA, "snapshot": SNAPSHOT_LUA}[name])
        _scripts[k] = s
    return s


def decide_mode(info):
    if info.num_subperiods and info.period_length:
        return "store"
    if info.rate_limit:
        return "rate"
    return "now"


def decide_args(info, code, value_json, now_ms):
    interval = float(info.rate_limit or 0) * 1000.0
    return info.decide_keys, [code, value_json, decide_mode(info), repr(now_ms), repr(interval),
                              info.ratelimit_timer, info.gk]


def _s(b):
    return b.decode("utf-8") if isinstance(b, bytes) else b


def map_from_flat(flat):
    """JSON text of a decisions map from HGETALL's flat [k, v, k, v] reply."""
    return protocol.map_json((_s(flat[i]), _s(flat[i + 1])) for i in range(0, len(flat), 2))


def not_started(res):
    """Whether a decide reply says the group has no map yet (ready not run)."""
    return int(res[0]) == -1


def parse_result(res):
    """(seq, map_json) from a decide/snapshot reply, or (None, None)."""
    seq = int(res[0])
    if seq <= 0:
        return None, None
    return seq, map_from_flat(res[1])


# ---- synchronous helpers (handlers, hooks, timers running in the sync thread) ----

def store_decisions_sync(group, decisions):
    """Replace the live map with ``decisions`` (e.g. after when_all_players_ready)."""
    from . import groups

    info = groups.info_for(group)
    r = redis_conn.get_sync()
    pipe = r.pipeline(transaction=True)
    pipe.delete(info.decisions_key)
    if decisions:
        pipe.hset(info.decisions_key, mapping={k: protocol.dumps(v) for k, v in decisions.items()})
    pipe.execute()


def read_decisions_sync(info):
    r = redis_conn.get_sync()
    flat = r.hgetall(info.decisions_key)
    return {_s(k): json.loads(_s(v)) for k, v in flat.items()}


def apply_decision_sync(group, code, value):
    """Set one decision and broadcast as the group's mode says (sync path)."""
    from . import groups, messaging

    info = groups.info_for(group)
    r = redis_conn.get_sync()
    keys, args = decide_args(info, code, protocol.dumps(value), protocol.now_ms())
    res = script(r, "decide")(keys=keys, args=args)
    seq, map_json = parse_result(res)
    if seq is not None:
        messaging.send_sync(group, "group_decisions", messaging.RawJSON(map_json), seq=seq)
        _mirror_to_row(group, map_json)
    if args[2] != "now":
        from . import timers

        timers.wake_schedulers()


def snapshot_sync(info, only_if_dirty=False):
    """(seq, map_json) of the current map with a new seq, or (None, None)."""
    r = redis_conn.get_sync()
    res = script(r, "snapshot")(
        keys=[info.decisions_key, info.seq_key, info.ratelimit_key],
        args=[repr(protocol.now_ms()), "1" if only_if_dirty else "0"],
    )
    return parse_result(res)


def _mirror_to_row(group, map_json):
    value = json.loads(map_json)
    type(group).objects.filter(pk=group.pk).update(group_decisions=value)
    object.__setattr__(group, "group_decisions", value)
    group._redwood_take_snapshot()


def seed_sync(info, group):
    """After a Redis restart: restore the live map and seq from the database."""
    from django.db.models import Max

    from .models import Event

    r = redis_conn.get_sync()
    if not r.exists(info.seq_key):
        top = (
            Event.objects.filter(content_type_id=info.ct_id, group_pk=info.pk)
            .aggregate(m=Max("seq"))["m"]
            or 0
        )
        r.set(info.seq_key, top, nx=True)
    if info.is_decision_group and group.group_decisions and not r.exists(info.decisions_key):
        pipe = r.pipeline(transaction=True)
        for code, value in group.group_decisions.items():
            pipe.hsetnx(info.decisions_key, code, protocol.dumps(value))
        pipe.execute()
