"""What a page does with the server's frames, for Python clients (the bots).

A bot must see what a participant's page sees, so these are the rules of
the page's own code, ``static/otree-redwood/src/lib/seq.js`` and
``decisions.js``, written again in Python.  The test vectors in
``tests/data/client_rules.json`` are run through both (tests/unit and
tests/js), so the two cannot drift apart.  No Django, no Redis.
"""
import math

__all__ = ["LATEST_WINS_CHANNELS", "SeqTracker", "other_decision_of", "others_mean_of"]

#: Channels whose every frame replaces the previous one entirely.
LATEST_WINS_CHANNELS = ("state", "group_decisions")


class SeqTracker:
    """Per-group sequence numbers as a page keeps them (seq.js).

    * a frame whose seq was seen recently is a duplicate (around a reconnect
      a frame can come live and again in the replay);
    * on a latest-wins channel, a frame older than the last one applied is
      stale (with several server processes frames can cross), so a late
      frame never rolls the state back;
    * frames without a numeric seq (ping, error, the map sent at connect)
      always pass.
    """

    def __init__(self, capacity=2000, latest_wins=LATEST_WINS_CHANNELS):
        self.capacity = capacity
        self.latest_wins = frozenset(latest_wins)
        self.highest = None
        self._seen = set()
        self._order = []
        self._applied = {}

    def accept(self, msg):
        """``'ok'``, ``'duplicate'`` or ``'stale'`` for one inbound frame (and record it)."""
        seq = msg.get("seq") if isinstance(msg, dict) else None
        if isinstance(seq, bool) or not isinstance(seq, (int, float)) or not math.isfinite(seq):
            return "ok"
        if seq in self._seen:
            return "duplicate"
        self._seen.add(seq)
        self._order.append(seq)
        while len(self._order) > self.capacity:
            self._seen.discard(self._order.pop(0))
        if self.highest is None or seq > self.highest:
            self.highest = seq
        channel = msg.get("channel")
        if channel in self.latest_wins:
            last = self._applied.get(channel)
            if last is not None and seq < last:
                return "stale"
            self._applied[channel] = seq
        return "ok"


def other_decision_of(group_decisions, my_code):
    """The first other member's decision in the map's order, as 0.9.x pages compute it."""
    if not isinstance(group_decisions, dict):
        return None
    for code, value in group_decisions.items():
        if code != my_code:
            return value
    return None


def others_mean_of(group_decisions, my_code):
    """The mean of the other members' numeric decisions, or None."""
    if not isinstance(group_decisions, dict):
        return None
    values = [v for c, v in group_decisions.items()
              if c != my_code and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    return sum(values) / len(values) if values else None
