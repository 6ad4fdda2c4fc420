"""Live group state in Redis: decisions, sequence numbers, rate limits.

Every read-modify-write of a group's state is one Lua script, so it is atomic
across server processes: two decisions that arrive at once in two processes
both land, and the map broadcast after each is the one that holds then.  The
database gets a copy of the map with every batch (write-behind); Redis is the
live copy while a period runs.

Redis is a cache of the database: its state may vanish (a restart without
persistence, FLUSHALL, a fail-over).  The seq key of a group is the marker
that its state is there: every script reports a missing one (NEED_SEED)
instead of counting from nothing, and the caller seeds the group from the
database (seed_groups) and runs the script again.
"""
import json

from . import protocol

# KEYS: dec, seq, rl, timers zset, group timer set, timer hash
# ARGV: code, value_json, mode ('now'|'store'|'rate'), now_ms, interval_ms, timer_id, gk
# (the timer keys and the last four arguments are not used by the script
# any more; they keep the call's shape for callers and scripts in flight)
DECIDE_LUA = r"""
if redis.call('EXISTS', KEYS[2]) == 0 then return {-2} end
if redis.call('EXISTS', KEYS[1]) == 0 then
  -- no map yet: when_all_players_ready has not run; as in 0.9.x the
  -- decision changes nothing and nothing is broadcast
  return {-1}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local mode = ARGV[3]
if mode == 'store' then
  -- no broadcast (sub-periods); the map goes back for the group row
  return {0, redis.call('HGETALL', KEYS[1])}
end
if mode == 'rate' then
  -- as in 0.9.x, a rate-limited group broadcasts on a fixed grid of
  -- rate_limit() seconds from the period start (timers.start_rate_limit),
  -- and only when something changed since the last broadcast
  redis.call('HSET', KEYS[3], 'dirty', 1)
  return {0, redis.call('HGETALL', KEYS[1])}
end
local seq = redis.call('INCR', KEYS[2])
return {seq, redis.call('HGETALL', KEYS[1])}
"""

# KEYS: dec, seq, rl ; ARGV: now_ms, only_if_dirty (0|1)
SNAPSHOT_LUA = r"""
if redis.call('EXISTS', KEYS[2]) == 0 then return {-2} end
if ARGV[2] == '1' then
  local dirty = tonumber(redis.call('HGET', KEYS[3], 'dirty')) or 0
  redis.call('HSET', KEYS[3], 'pending', 0)
  if dirty == 0 then return {0} end
  redis.call('HSET', KEYS[3], 'dirty', 0, 'last', ARGV[1])
end
local seq = redis.call('INCR', KEYS[2])
return {seq, redis.call('HGETALL', KEYS[1])}
"""

# KEYS: seq ; the next seq of a server message, or -2 (NEED_SEED)
NEXT_SEQ_LUA = r"""
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
return redis.call('INCR', KEYS[1])
"""

# KEYS: seq, dec, rl ; ARGV: top seq, has map (0|1), dirty (0|1), code, value, ...
# The first seeder wins; the map goes in before the marker (the seq key),
# so a script that finds the marker finds the map.
SEED_LUA = r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[2] == '1' then
  for i = 4, #ARGV, 2 do redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) end
  if ARGV[3] == '1' then redis.call('HSET', KEYS[3], 'dirty', 1) end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

#: The reply of a script that found no state of its group in Redis.
NEED_SEED = -2

#: Added to the highest stored seq when a group is seeded after a loss:
#: messages numbered by the lost counter may still be on their way to the
#: database (other processes' batches); their numbers must stay unused.
SEED_GAP = 1000

_scripts = {}


def script(client, name):
    """The registered script ``name`` for a client (sync or async)."""
    k = (id(client), name)
    s = _scripts.get(k)
    if s is None:
        s = client.register_script({"decide": DECIDE_LUA, "snapshot": SNAPSHOT_LUA,
                                    "next_seq": NEXT_SEQ_LUA, "seed": SEED_LUA}[name])
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


def needs_seed(res):
    """Whether a script found no state of its group in Redis (see seed_groups)."""
    return int(res[0]) == NEED_SEED


def live_map(res):
    """JSON of the map a decide reply returns without a broadcast (seq 0), or None."""
    if int(res[0]) != 0 or len(res) < 2:
        return None
    return map_from_flat(res[1])


def parse_result(res):
    """(seq, map_json) from a decide/snapshot reply, or (None, None)."""
    seq = int(res[0])
    if seq <= 0:
        return None, None
    return seq, map_from_flat(res[1])


def read_map(client, info):
    """{code: decision} of a group's live map."""
    flat = client.hgetall(info.decisions_key)
    return {_s(k): json.loads(_s(v)) for k, v in flat.items()}


def write_map(client, info, decisions, changed=False):
    """Replace a group's live map; ``changed``: the next rate-limit tick broadcasts it."""
    pipe = client.pipeline(transaction=True)
    pipe.delete(info.decisions_key)
    if decisions:
        pipe.hset(info.decisions_key, mapping={k: protocol.dumps(v) for k, v in decisions.items()})
    if changed:
        pipe.hset(info.ratelimit_key, "dirty", 1)
    pipe.execute()
