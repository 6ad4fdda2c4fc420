"""A group's live state, kept in Redis and rebuilt from the host's database when Redis lost it.

state.py runs the scripts; this module seeds what they find missing
(NEED_SEED): the seq continues above the highest stored one, the map is
the last stored ``group_decisions`` with the decisions stored after it.
Synchronous: it runs on the engine's database thread.
"""
from . import host, protocol, redis_conn, state


def read_decisions_sync(info):
    return state.read_map(redis_conn.get_sync(), info)


def store_decisions_sync(info, decisions, changed=False):
    """Replace the live map with ``decisions`` (e.g. after when_all_players_ready).

    ``changed``: the map changed since the last broadcast (a rate-limited
    group's next tick sends it).
    """
    state.write_map(redis_conn.get_sync(), info, decisions, changed)


def snapshot_sync(info, only_if_dirty=False):
    """(seq, map_json) of the current map with a new seq, or (None, None)."""
    r = redis_conn.get_sync()
    res = run_seeded(r, info, "snapshot", [info.decisions_key, info.seq_key, info.ratelimit_key],
                     [repr(protocol.now_ms()), "1" if only_if_dirty else "0"])
    return state.parse_result(res)


def next_seq_sync(info):
    """The next seq of a server message of the group (seeded if need be)."""
    r = redis_conn.get_sync()
    return int(run_seeded(r, info, "next_seq", [info.seq_key], []))


def run_seeded(r, info, name, keys, args):
    """Run script ``name``; if the group's state is missing, seed it and run it again."""
    for _ in range(3):
        res = state.script(r, name)(keys=keys, args=args)
        first = res[0] if isinstance(res, list) else res
        if int(first) != state.NEED_SEED:
            return res
        seed_groups([(info, 0)])
    raise RuntimeError("the state of %s in Redis could not be seeded" % info.gk)


def seed_groups(pairs):
    """Seed each group of [(info, seq floor)] that has no state in Redis.

    The seq continues above the highest stored one (plus SEED_GAP once a
    group has stored messages) and above the floor (seqs this process
    already took in the batch being retried).  The map is the last stored
    ``group_decisions`` (else the group row) with the decisions stored
    after it applied: the live map when Redis was lost, although the row
    is written behind.
    """
    r = redis_conn.get_sync()
    pipe = r.pipeline(transaction=False)
    for info, _ in pairs:
        pipe.exists(info.seq_key)
    present = pipe.execute()
    seed = state.script(r, "seed")
    missing = [(info, floor) for (info, floor), there in zip(pairs, present) if not there]
    if not missing:
        return
    h = host.current()
    # what the database says of all of them in a few queries (a lab's fresh
    # groups have nothing stored), then per started group its map
    tops = h.max_seqs([info for info, _ in missing])
    rows = h.group_states([info for info, _ in missing if info.is_decision_group])
    for info, floor in missing:
        top, decisions, dirty = _stored_state(h, info, tops.get(info.gk) or 0, rows.get(info.gk))
        top = max(top, int(floor or 0))
        args = [top, "1" if decisions is not None else "0", "1" if dirty else "0"]
        for code, value in (decisions or {}).items():
            args.extend([code, protocol.dumps(value)])
        seed(keys=[info.seq_key, info.decisions_key, info.ratelimit_key], args=args)


def _stored_state(h, info, top, row):
    """(top seq, live map or None, dirty) of a group from the database.

    ``top``: its highest stored seq; ``row``: (period start ms or None, the
    row's map) of a DecisionGroup.
    """
    if top:
        top += state.SEED_GAP
    if not info.is_decision_group:
        return top, None, False
    if row is None or row[0] is None:
        return top, None, False  # not started: decisions are ignored until it is
    started_ms, row_map = row
    last = h.last_map(info)
    if last is not None and isinstance(last.value, dict):
        decisions, since = dict(last.value), last.t_ms
    else:
        decisions, since = dict(row_map or {}), started_ms
    dirty = False
    if info.fast_decisions:
        codes = {member[0]: code for code, member in info.members.items()}
        for pid, value in h.decisions_after(info, since, list(codes)):
            decisions[codes[pid]] = value
            dirty = True
    return top, decisions, dirty
