"""Payoffs of the prisoner's dilemma in discrete sub-periods (pure functions).

The game is that of continuous_pd (same matrix); only the timing differs: a
choice counts once per sub-period, as it stands when the sub-period ends.
"""
import datetime

from continuous_pd.payoffs import MATRIX, flow_payoff

__all__ = ["MATRIX", "flow_payoff", "subperiod_maps", "subperiod_payoffs"]


def _seconds(t):
    return t.timestamp() if isinstance(t, datetime.datetime) else float(t)


def subperiod_maps(history, start, end, num_subperiods, period_length):
    """The decision maps that closed each sub-period, oldest first.

    ``history`` is ``[(time, {code: decision}), ...]``: the group's
    ``group_decisions`` broadcasts.  With sub-periods the server broadcasts
    the map only when a sub-period ends (at ``start + k * length / n``): the
    maps from half a sub-period after ``start`` up to ``end`` are the
    sub-periods' maps (an earlier one, if any, is ignored).
    """
    t0, t1 = _seconds(start), _seconds(end)
    half = float(period_length) / int(num_subperiods) / 2.0
    return [m for t, m in history if t0 + half <= _seconds(t) <= t1]


def subperiod_payoffs(maps, codes, matrix=MATRIX):
    """Points of each player in each sub-period, their average and cooperation.

    Returns ``{code: {"points": [...], "payoff": mean points,
    "cooperation": share of sub-periods cooperating}}``.  A player's partner
    is the other member (the mean of the others in larger groups).
    """
    out = {}
    for code in codes:
        points, coop = [], []
        for decisions in maps:
            mine = decisions.get(code)
            others = [float(decisions[c]) for c in codes if c != code and decisions.get(c) is not None]
            if mine is None or not others:
                continue
            points.append(flow_payoff(float(mine), sum(others) / len(others), matrix))
            coop.append(float(mine))
        out[code] = {
            "points": points,
            "payoff": sum(points) / len(points) if points else 0.0,
            "cooperation": sum(coop) / len(coop) if coop else None,
        }
    return out
