"""Payoffs integrated over time from a group's decision history.

Nearly every continuous-time experiment pays the integral of a *flow
payoff* over the period: while the group's decisions are ``m``, member ``i``
earns ``payoff_fn(m[i], others)`` points per second.  This module rebuilds the
decisions in force at each moment from the stored ``group_decisions`` events
and integrates.  It has two layers:

* pure functions on ``(timestamp_ms, channel, value)`` rows, no Django
  needed: :func:`decision_series` and :func:`integrate`.  They work the same
  on the events of a group in the database and on the rows of the events CSV
  (``time_ms``, ``channel``, ``value`` columns; see docs/analysis.rst);
* :func:`flow_payoffs` and :func:`group_series`, which read a
  ``DecisionGroup``'s events and call the pure layer (for
  ``Player.set_payoff``-style code).

What is in force when (the exact rules):

* The period is ``[start, end]``: the ``period_start`` and ``period_end``
  state events (or the times given).
* Without sub-periods (decisions broadcast at once, or rate limited), each
  ``group_decisions`` map is in force from its own timestamp until the next
  map's, the last one until ``end``.  The map in force at ``start`` is the
  latest map stored at or before ``start`` if there is one, else the first
  map after ``start``: the server stores the initial map (every member's
  ``initial_decision()``) a few milliseconds after ``period_start``, and it
  counts from ``start``.  A member who never moved keeps their initial
  decision the whole period.
* With ``n`` sub-periods of a period of ``L`` seconds, the server stores one
  map at the end of each sub-period (the last one at ``period_end``): the
  map of sub-period ``k`` (``k = 1..n``, counted in storage order) is in
  force over ``[start + (k-1)L/n, start + kL/n]``, the last sub-period
  running to ``end``.  So its flow payoff counts for the sub-period's length:
  a total of ``sum_k flow_k * L/n``, and with ``average=True`` the mean of the
  sub-periods' flows.  A map stored within the first half sub-period
  after ``start`` is an initial snapshot, not a sub-period's map, and is
  skipped (the export's ``subperiod`` column gives it 0).  If fewer than
  ``n`` maps were stored, the last one stays in force to ``end``.
* A member whose entry is missing or ``null`` in a map earns nothing for
  that stretch, and is left out of the other members' ``others``.

``payoff_fn(my_decision, other)`` returns points per second.  ``other`` is
the other member's decision in a group of two, and a dict ``{participant
code: decision}`` of the other members in larger groups (:func:`mean_of`
turns that into the mean, for mean matching).  When the payoff depends on
who the member is (a row and a column player), pass a dict ``{participant
code: payoff_fn}`` instead of one function.

Totals are floats.  oTree rounds ``player.payoff`` to ``POINTS_DECIMAL_PLACES``
(0 by default: 0.524 becomes 1 point); set ``POINTS_DECIMAL_PLACES = 2`` in
``settings.py`` or keep the exact value in a ``FloatField`` as well.
"""
import datetime
import json

__all__ = [
    "Series", "decision_series", "integrate", "mean_of",
    "group_rows", "group_series", "flow_payoffs",
]


class Series:
    """The decisions of a group over its period: a step function.

    ``steps`` is ``[(t_ms, {code: decision}), ...]`` in time order, the first
    at ``start_ms``; each map holds until the next step, the last until
    ``end_ms``.  Iterating gives ``(t0_ms, t1_ms, map)`` pieces.
    """

    __slots__ = ("start_ms", "end_ms", "steps")

    def __init__(self, start_ms, end_ms, steps):
        self.start_ms, self.end_ms, self.steps = float(start_ms), float(end_ms), list(steps)

    @property
    def seconds(self):
        """Length of the period in seconds."""
        return max(0.0, (self.end_ms - self.start_ms) / 1000.0)

    def __iter__(self):
        for i, (t, decisions) in enumerate(self.steps):
            t1 = self.steps[i + 1][0] if i + 1 < len(self.steps) else self.end_ms
            t0, t1 = max(t, self.start_ms), min(t1, self.end_ms)
            if t1 > t0:
                yield t0, t1, decisions

    def at(self, t_ms):
        """The map in force at ``t_ms`` (None before the period)."""
        current = None
        for t, decisions in self.steps:
            if t > t_ms:
                break
            current = decisions
        return current

    def codes(self):
        """Every participant code that appears, in order of first appearance."""
        seen = {}
        for _, decisions in self.steps:
            for code in decisions:
                seen.setdefault(code, None)
        return list(seen)

    def __repr__(self):
        return "Series(start_ms=%r, end_ms=%r, %d steps)" % (self.start_ms, self.end_ms, len(self.steps))


def _ms(t):
    if t is None:
        return None
    if isinstance(t, datetime.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=datetime.timezone.utc)
        return t.timestamp() * 1000.0
    return float(t)


def _decoded(value):
    """A value as stored (decoded JSON) from a row that may hold JSON text (CSV)."""
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def decision_series(rows, start_ms=None, end_ms=None, num_subperiods=None, period_length=None):
    """The :class:`Series` of one group's period from its event rows.

    ``rows``: ``(timestamp_ms, channel, value)`` of the group's events, any
    channels (others are ignored), oldest first; ``value`` decoded or JSON
    text.  ``start_ms`` / ``end_ms`` default to the first ``period_start``
    and the first ``period_end`` after it (ValueError when missing: the
    period has not started or not ended; pass ``end_ms`` to look at a
    running period).  With ``num_subperiods`` (and ``period_length`` in
    seconds), maps count per sub-period (module docstring).
    """
    maps = []
    found_start = found_end = None
    for t, channel, value in rows:
        t = _ms(t)
        if channel == "group_decisions":
            value = _decoded(value)
            if isinstance(value, dict):
                maps.append((t, value))
        elif channel == "state":
            value = _decoded(value)
            if value == "period_start" and found_start is None:
                found_start = t
            elif value == "period_end" and found_start is not None and found_end is None:
                found_end = t
    start_ms = _ms(start_ms) if start_ms is not None else found_start
    end_ms = _ms(end_ms) if end_ms is not None else found_end
    if start_ms is None:
        raise ValueError("no period_start among the rows (the period never started)")
    if end_ms is None:
        raise ValueError("no period_end among the rows: pass end_ms for a period that has not ended")
    maps.sort(key=lambda m: m[0])  # stable: equal times keep storage order
    if num_subperiods:
        return _subperiod_series(maps, start_ms, end_ms, int(num_subperiods), period_length)
    before = [m for m in maps if m[0] <= start_ms]
    after = [m for m in maps if start_ms < m[0] <= end_ms]
    steps = []
    if before:
        steps.append((start_ms, before[-1][1]))
    elif after:
        # the initial map, stored just after period_start: in force from the start
        steps.append((start_ms, after.pop(0)[1]))
    steps.extend(after)
    return Series(start_ms, end_ms, steps)


def _subperiod_series(maps, start_ms, end_ms, n, period_length):
    if not period_length:
        raise ValueError("num_subperiods needs period_length (seconds)")
    sub_ms = float(period_length) * 1000.0 / n
    inside = [m for m in maps if start_ms < m[0] <= end_ms]
    if inside and inside[0][0] - start_ms < sub_ms / 2.0:
        inside = inside[1:]  # an initial snapshot, not a sub-period's end
    steps = [(start_ms + k * sub_ms, decisions) for k, (_, decisions) in enumerate(inside[:n])]
    return Series(start_ms, end_ms, steps)


def mean_of(others):
    """Mean of the other members' decisions (a dict or a single value)."""
    if isinstance(others, dict):
        values = [float(v) for v in others.values()]
        return sum(values) / len(values) if values else None
    return others


def _fn_for(payoff_fn, code):
    if callable(payoff_fn):
        return payoff_fn
    fn = payoff_fn.get(code)
    if fn is None:
        raise KeyError("no payoff function for participant %r" % code)
    return fn


def integrate(series, payoff_fn, codes=None, average=False):
    """``{code: points}``: each member's flow payoff integrated over the period.

    ``payoff_fn(my_decision, other)`` gives points per second (module
    docstring); a dict ``{code: payoff_fn}`` gives each member their own.
    ``codes`` defaults to every code in the series.  With ``average=True``
    the result is the time-weighted average flow (points per second)
    instead of the total.
    """
    if codes is None:
        codes = series.codes()
    codes = list(codes)
    totals = {code: 0.0 for code in codes}
    pair = len(codes) == 2
    for t0, t1, decisions in series:
        seconds = (t1 - t0) / 1000.0
        present = {c: v for c, v in decisions.items() if v is not None}
        for code in codes:
            mine = present.get(code)
            if mine is None:
                continue
            if pair:
                # a group of two: the partner's decision itself
                other = present.get(codes[1] if code == codes[0] else codes[0])
                if other is None:
                    continue
            else:
                other = {c: v for c, v in present.items() if c != code}
            totals[code] += float(_fn_for(payoff_fn, code)(mine, other)) * seconds
    if average:
        length = series.seconds
        return {code: (total / length if length > 0 else 0.0) for code, total in totals.items()}
    return totals


# ---- Django layer ----

def group_rows(group):
    """``(timestamp_ms, channel, value)`` of a group's state and map events."""
    from .engine.clock import epoch_ms

    events = group.events
    if hasattr(events, "filter"):  # oTree 3: a query set
        events = events.filter(channel__in=("state", "group_decisions")).order_by("timestamp", "id")
    # (oTree 6: a list, oldest first)
    return [(epoch_ms(e.timestamp), e.channel, e.value) for e in events if e.channel in ("state", "group_decisions")]


def _hook(group, name):
    fn = getattr(group, name, None)
    return fn() if callable(fn) else None


def group_series(group, end=None):
    """The :class:`Series` of a ``DecisionGroup``'s period, or None if it never started.

    ``end`` (a datetime or ms) stands in for ``period_end`` while the period
    runs; by default a period that has not ended yet is taken up to now.
    """
    from .engine.clock import now_ms

    rows = group_rows(group)
    if not any(ch == "state" and v == "period_start" for _, ch, v in rows):
        return None
    end_ms = _ms(end)
    if end_ms is None and not any(ch == "state" and v == "period_end" for _, ch, v in rows):
        end_ms = now_ms()
    n = _hook(group, "num_subperiods")
    length = _hook(group, "period_length") if n else None
    return decision_series(rows, end_ms=end_ms, num_subperiods=n or None, period_length=length)


def flow_payoffs(group, payoff_fn, average=False):
    """``{participant code: points}`` of every member of a ``DecisionGroup``.

    Each member's ``payoff_fn`` integrated over the period (see
    :func:`integrate`); 0 for everyone when the period never started.
    Call it once the period has ended, e.g. from a wait page's
    ``after_all_players_arrive`` or a page's ``before_next_page``::

        totals = flow_payoffs(group, lambda mine, other: 3 * mine + other)
        for p in group.get_players():
            p.payoff = totals[p.participant.code]
    """
    codes = [p.participant.code for p in group.get_players()]
    series = group_series(group)
    if series is None:
        return {code: 0.0 for code in codes}
    return integrate(series, payoff_fn, codes=codes, average=average)
