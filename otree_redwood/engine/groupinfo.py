"""What the engine knows of a group: a plain snapshot, built by the host.

``GroupInfo`` holds no framework object the engine looks into: ``model``
and ``ct_id`` are the host's (its group class and the id its event log files
the group under), passed back to the host unread.  The async hot path uses
it without touching the database: the group's Redis keys, its members and
the answers of its hooks (period length, sub-periods, rate limit).
"""
from . import keys


def group_key(app_name, group_pk):
    """``"<app>:<pk>"``: how the engine names a group (Redis keys, timers, caches)."""
    return "%s:%s" % (app_name, group_pk)


def by_table(infos, attr):
    """``{info.<attr>: {pk: gk}}``: groups sorted by what the host queries them by (model, event table id).

    The hosts read many groups with one query per model (or per event kind)
    and map the rows back to group keys with it.
    """
    out = {}
    for info in infos:
        out.setdefault(getattr(info, attr), {})[info.pk] = info.gk
    return out


def chunks(values, size=500):
    """``values`` in lists of at most ``size`` (SQLite allowed 999 variables per statement before 3.32)."""
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i:i + size]


def split_group_key(gk):
    """(app name, pk) of a group key."""
    app_name, pk = gk.rsplit(":", 1)
    return app_name, int(pk)


class GroupInfo:
    """Snapshot of one group for the real-time layer.

    ``members``: {participant code: (participant id, id_in_group, player pk)};
    ``handlers``: channels with an ``_on_<channel>_event`` method;
    ``fast_decisions``: the app keeps DecisionGroup's own decisions handler,
    so decisions are applied in Redis without loading the group;
    ``custom_subperiod_tick``: the app overrides ``_subperiod_tick``;
    ``default_disconnect_hook``: ``when_player_disconnects`` does nothing.
    """

    __slots__ = (
        "app_name", "pk", "gk", "model", "ct_id", "session_code", "bus",
        "members", "period_length", "num_subperiods", "rate_limit",
        "post_round_delay", "is_decision_group", "fast_decisions", "custom_subperiod_tick", "handlers", "server_only",
        "default_disconnect_hook",
        "seq_key", "decisions_key", "ratelimit_key", "sockets_key", "ratelimit_timer", "decide_keys",
    )

    def __init__(self, **kw):
        for name in self.__slots__:
            setattr(self, name, kw.get(name))
        if self.bus is None:
            self.bus = keys.group_bus(self.session_code, self.app_name, self.pk)
        # Redis keys of this group, made once (the hot path uses them per message)
        self.seq_key = keys.group_seq(self.gk)
        self.decisions_key = keys.group_decisions(self.gk)
        self.ratelimit_key = keys.group_ratelimit(self.gk)
        self.sockets_key = keys.group_sockets(self.gk)
        self.ratelimit_timer = keys.ratelimit_timer(self.gk)
        self.decide_keys = [
            self.decisions_key, self.seq_key, self.ratelimit_key, keys.timer_set(),
            keys.group_timers(self.gk), keys.timer_hash(self.ratelimit_timer),
        ]


class StoredEvent:
    """A stored server message as the engine reads it back (replay, resync, seeding).

    ``t_ms``: its timestamp in ms since the epoch; ``recipient_id``: the one
    participant it went to, or None.
    """

    __slots__ = ("channel", "value", "seq", "t_ms", "recipient_id")

    def __init__(self, channel, value, seq, t_ms, recipient_id=None):
        self.channel = channel
        self.value = value
        self.seq = seq
        self.t_ms = t_ms
        self.recipient_id = recipient_id

    def __repr__(self):
        return "StoredEvent(%s, seq=%s)" % (self.channel, self.seq)
