"""What a real-time bot knows and does, for both hosts' bots (otree_redwood.bots, otree6.bots).

A member's :class:`BotState` follows the page's own rules
(engine/client_rules.py: frames seen twice and maps older than the one
applied are dropped); the reader feeds it the socket's frames, the actor
calls the strategy while the period runs and sends what it returns.  The
socket is any object with async ``send(text)``, ``recv()`` (None once
closed) and a ``closed_code``: each host brings its own (in-process ASGI, or
the network).  No framework, no Redis.
"""
import asyncio
import json
import logging
import time

from . import client_rules

logger = logging.getLogger(__name__)

__all__ = ["BotError", "Member", "BotState", "GroupPlay", "encode", "reader", "actor", "diagnose"]


class BotError(AssertionError):
    """A real-time play went wrong (timeout, refused socket, closed socket)."""


class Member:
    """One member of the group a bot plays for."""

    __slots__ = ("code", "id_in_group", "role", "info")

    def __init__(self, code, id_in_group=None, role="", info=None):
        self.code = code
        self.id_in_group = id_in_group
        self.role = role or ""
        self.info = dict(info or {})

    def __repr__(self):
        return "Member(%s, id_in_group=%s)" % (self.code, self.id_in_group)


class BotState:
    """What one member's page knows, as seen by a strategy and by checks.

    Attributes: ``code``, ``id_in_group``, ``role``, ``info`` (per-player data
    from ``player_info``), ``app_name``, ``group_pk``, ``rng``,
    ``memory`` (a dict the strategy may keep things in), ``messages`` (every
    frame received, as dicts, duplicates removed), ``new_messages`` (frames
    since the strategy's previous call), ``group_decisions`` (latest map),
    ``history`` (``[(ts_ms, map), ...]`` of the ``group_decisions`` frames),
    ``start_ts`` / ``end_ts`` (server time of ``period_start`` /
    ``period_end`` in ms, or None), ``sent`` (``[(channel, payload), ...]``),
    ``closed_code`` (close code if the server closed the socket).
    """

    def __init__(self, member, app_name, group_pk, rng):
        self.member = member
        self.code = member.code
        self.id_in_group = member.id_in_group
        self.role = member.role
        self.info = member.info
        self.app_name = app_name
        self.group_pk = group_pk
        self.rng = rng
        self.memory = {}
        self.messages = []
        self.new_messages = []
        self.group_decisions = {}
        self.history = []
        self.start_ts = None
        self.end_ts = None
        self.sent = []
        self.closed_code = None
        self.calls = 0
        self._outbox = []
        self._seq = client_rules.SeqTracker()
        self._t_start = None
        self._started = None  # asyncio.Event, made on the play's loop
        self._ended = None

    # --- what a strategy reads ---
    @property
    def started(self):
        return self.start_ts is not None

    @property
    def ended(self):
        return self.end_ts is not None

    @property
    def elapsed(self):
        """Seconds since this member saw ``period_start`` (0 before)."""
        return 0.0 if self._t_start is None else time.monotonic() - self._t_start

    @property
    def my_decision(self):
        """This member's decision in the latest ``group_decisions`` map."""
        return self.group_decisions.get(self.code)

    @property
    def other_decisions(self):
        """``{code: decision}`` of the other members (latest map)."""
        return {c: d for c, d in self.group_decisions.items() if c != self.code}

    @property
    def other_decision(self):
        """The first other member's decision in the latest map (as the page's ``otherDecision``)."""
        return client_rules.other_decision_of(self.group_decisions, self.code)

    @property
    def others_mean(self):
        """Mean of the other members' numeric decisions, or None (the page's ``othersMean``)."""
        return client_rules.others_mean_of(self.group_decisions, self.code)

    def on(self, channel):
        """Payloads of every frame received on ``channel``, oldest first."""
        return [m.get("payload") for m in self.messages if m.get("channel") == channel]

    def last(self, channel, default=None):
        """Payload of the latest frame on ``channel``."""
        for m in reversed(self.messages):
            if m.get("channel") == channel:
                return m.get("payload")
        return default

    @property
    def errors(self):
        """Payloads of the ``error`` frames this member received."""
        return self.on("error")

    # --- what a strategy does ---
    def send(self, channel, payload=None):
        """Queue a message; it is sent when the strategy call returns."""
        self._outbox.append((channel, payload))

    def decide(self, value):
        """Queue a decision (the same as returning it from the strategy)."""
        self.send("decisions", value)

    # --- the reader's bookkeeping ---
    def _receive(self, msg):
        channel = msg.get("channel")
        # the page's rules: a frame seen already (live, then in the replay of
        # a reconnect) is dropped, and so is a map older than the one applied
        if self._seq.accept(msg) != "ok":
            return
        self.messages.append(msg)
        self.new_messages.append(msg)
        if channel == "state":
            if msg.get("payload") == "period_start" and self.start_ts is None:
                self.start_ts = msg.get("ts")
                self._t_start = time.monotonic()
                self._started.set()
            elif msg.get("payload") == "period_end" and self.end_ts is None:
                if self.start_ts is None:  # opened after the end: replayed state
                    self._started.set()
                self.end_ts = msg.get("ts")
                self._ended.set()
        elif channel == "group_decisions" and isinstance(msg.get("payload"), dict):
            self.group_decisions = msg["payload"]
            self.history.append((msg.get("ts"), msg["payload"]))

    def __repr__(self):
        return "BotState(%s, id_in_group=%s, %d messages)" % (self.code, self.id_in_group, len(self.messages))


class GroupPlay:
    """The outcome of one group's play: a :class:`BotState` per member."""

    def __init__(self, app_name, group_pk, states):
        self.app_name = app_name
        self.group_pk = group_pk
        self.members = {s.code: s for s in states}
        self._claimed = set()

    def by_id(self, id_in_group):
        for s in self.members.values():
            if s.id_in_group == id_in_group:
                return s
        raise KeyError(id_in_group)

    @property
    def start_ts(self):
        return min((s.start_ts for s in self.members.values() if s.start_ts is not None), default=None)

    @property
    def end_ts(self):
        return max((s.end_ts for s in self.members.values() if s.end_ts is not None), default=None)

    @property
    def ended(self):
        return all(s.ended for s in self.members.values())

    def __repr__(self):
        return "GroupPlay(%s:%s, %d members)" % (self.app_name, self.group_pk, len(self.members))


def encode(channel, payload):
    return json.dumps({"channel": channel, "payload": payload})


async def reader(sock, state):
    while True:
        text = await sock.recv()
        if text is None:
            state.closed_code = sock.closed_code
            # a closed socket never ends the period: wake whoever waits
            state._started.set()
            state._ended.set()
            return
        try:
            msg = json.loads(text)
        except ValueError:
            logger.warning("bot %s: frame is not JSON: %r", state.code, text[:200])
            continue
        if isinstance(msg, dict):
            state._receive(msg)


async def actor(sock, state, strategy, interval, stop_at):
    """Call the strategy every ``interval`` seconds while the period runs."""
    await state._started.wait()
    if strategy is None or state.ended:
        return
    loop = asyncio.get_event_loop()
    # members start at random phases so that they do not act in lockstep
    await asyncio.sleep(state.rng.uniform(0, interval))
    while not state.ended and (stop_at is None or loop.time() < stop_at):
        decision = strategy(state)
        state.calls += 1
        state.new_messages = []
        if decision is not None:
            state._outbox.append(("decisions", decision))
        outbox, state._outbox = state._outbox, []
        for channel, payload in outbox:
            state.sent.append((channel, payload))
            await sock.send(encode(channel, payload))
        await asyncio.sleep(interval)


def diagnose(what, states):
    """A BotError's text: what went wrong, and what each member saw last."""
    lines = [what + ":"]
    for s in states:
        tail = [(m.get("channel"), m.get("payload")) for m in s.messages[-3:]]
        lines.append("  %s (id %s): started=%s ended=%s closed=%s last=%r" % (
            s.code, s.id_in_group, s.started, s.ended, s.closed_code, tail))
    return "\n".join(lines)
