"""A decision applied on the synchronous path, and the group row following the live map.

The pipeline applies most decisions itself, in batches (pipeline.py); this
is the path of code that runs on the server: an app's own
``_on_decisions_event`` that calls DecisionGroup's, a handler that sets a
decision.
"""
import json

from . import host, livestate, messaging, protocol, redis_conn, state


def apply_decision_sync(group, code, value):
    """Set one decision and broadcast as the group's mode says (sync path)."""
    info = host.current().info_for(group)
    r = redis_conn.get_sync()
    keys, args = state.decide_args(info, code, protocol.dumps(value), protocol.now_ms())
    res = livestate.run_seeded(r, info, "decide", keys, args)
    seq, map_json = state.parse_result(res)
    if seq is not None:
        messaging.send_sync(group, "group_decisions", messaging.RawJSON(map_json), seq=seq)
        mirror_to_row(group, map_json)
    elif state.live_map(res) is not None:
        # sub-periods or a rate limit: no broadcast now; the row follows, as in 0.9.x
        mirror_to_row(group, state.live_map(res))


def mirror_to_row(group, map_json):
    """The group row (and object) take the live map."""
    host.current().write_group(group, {"group_decisions": json.loads(map_json)})
