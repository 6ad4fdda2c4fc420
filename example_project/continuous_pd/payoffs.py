"""Payoffs of the continuous-time prisoner's dilemma (pure functions, no oTree).

A decision is the probability of cooperating, in [0, 1] (the page's buttons
send exactly 0 or 1).  The flow payoff is the expected payoff of the 2x2 game
per unit of time; a player's payoff for the period is the time-weighted
average of their flow payoff over the period.
"""
import datetime

#: Payoff per unit of time: cc = both cooperate, cd = I cooperate and the
#: other defects, dc = I defect and the other cooperates, dd = both defect.
MATRIX = {"cc": 100, "cd": 0, "dc": 150, "dd": 25}


def flow_payoff(mine, other, matrix=MATRIX):
    """Expected payoff per unit of time of cooperating with probability ``mine``
    against a partner who cooperates with probability ``other``."""
    return (
        mine * other * matrix["cc"]
        + mine * (1 - other) * matrix["cd"]
        + (1 - mine) * other * matrix["dc"]
        + (1 - mine) * (1 - other) * matrix["dd"]
    )


def _seconds(t):
    if isinstance(t, datetime.datetime):
        return t.timestamp()
    return float(t)


def holding_intervals(history, start, end):
    """Split [start, end] among the decision maps of ``history``.

    ``history`` is ``[(time, {code: decision}), ...]`` in time order (datetimes
    or seconds).  Each map holds from its time until the next map's time; the
    pieces are clamped to [start, end].  The first map also covers the time
    between ``start`` and its own time (it is the initial decisions, sent
    with the period's start).  Returns ``[(seconds, map), ...]``.
    """
    t0, t1 = _seconds(start), _seconds(end)
    if t1 <= t0 or not history:
        return []
    times = [_seconds(t) for t, _ in history]
    out = []
    for i, (_, decisions) in enumerate(history):
        begin = t0 if i == 0 else max(times[i], t0)
        finish = times[i + 1] if i + 1 < len(history) else t1
        finish = min(finish, t1)
        if i + 1 < len(history) and times[i + 1] <= t0:
            continue  # superseded before the period started
        if finish > begin:
            out.append((finish - begin, decisions))
    return out


def time_weighted(history, start, end, codes, flow, default=None):
    """Each player's time-weighted average of ``flow(mine, other)`` over [start, end].

    ``other`` is the mean decision of the other members (for two players,
    simply the other one).  A code missing from a map (or with a null
    decision) counts as ``default``; with ``default=None`` such stretches are
    left out of that player's average.

    Returns ``{code: {"payoff": float, "decision": float or None}}`` where
    ``decision`` is the player's own time-weighted average decision.
    """
    totals = {code: [0.0, 0.0, 0.0] for code in codes}  # flow*s, decision*s, s
    for seconds, decisions in holding_intervals(history, start, end):
        values = {}
        for code in codes:
            v = decisions.get(code) if isinstance(decisions, dict) else None
            values[code] = default if v is None else float(v)
        for code in codes:
            mine = values[code]
            others = [values[c] for c in codes if c != code and values[c] is not None]
            if mine is None or not others:
                continue
            acc = totals[code]
            acc[0] += flow(mine, sum(others) / len(others)) * seconds
            acc[1] += mine * seconds
            acc[2] += seconds
    result = {}
    for code, (pay, dec, secs) in totals.items():
        if secs > 0:
            result[code] = {"payoff": pay / secs, "decision": dec / secs}
        else:
            result[code] = {"payoff": 0.0, "decision": None}
    return result


def time_weighted_payoffs(history, start, end, codes, matrix=MATRIX, default=None):
    """Average flow payoff and share of cooperation of each player over [start, end].

    Returns ``{code: {"payoff": float, "cooperation": float or None}}``.
    """
    result = time_weighted(
        history, start, end, codes, lambda mine, other: flow_payoff(mine, other, matrix), default
    )
    return {code: {"payoff": r["payoff"], "cooperation": r["decision"]} for code, r in result.items()}
