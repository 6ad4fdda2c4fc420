"""Payoffs of the mean-matching hawk-dove game (pure functions).

A decision is the probability of playing Hawk, in [0, 1].  Each player is
matched against the population: their partner's decision is the mean of the
other members' decisions.  Flow payoffs per second come from ``MATRIX``;
the payoff is their time-weighted average over the period (the integration
is continuous_pd's).
"""
from continuous_pd.payoffs import holding_intervals, time_weighted

__all__ = ["MATRIX", "flow_payoff", "mixed_equilibrium", "time_weighted_payoffs", "holding_intervals"]

#: hh: both Hawk, hd: I play Hawk against Dove, dh: Dove against Hawk, dd: both Dove.
MATRIX = {"hh": 2, "hd": 12, "dh": 4, "dd": 8}


def flow_payoff(mine, others_mean, matrix=MATRIX):
    """Expected points per second of Hawk with probability ``mine`` against a
    population that plays Hawk with probability ``others_mean``."""
    return (
        mine * others_mean * matrix["hh"]
        + mine * (1 - others_mean) * matrix["hd"]
        + (1 - mine) * others_mean * matrix["dh"]
        + (1 - mine) * (1 - others_mean) * matrix["dd"]
    )


def mixed_equilibrium(matrix=MATRIX):
    """Share of Hawk at which Hawk and Dove earn the same."""
    return (matrix["hd"] - matrix["dd"]) / float(matrix["hd"] - matrix["dd"] + matrix["dh"] - matrix["hh"])


def time_weighted_payoffs(history, start, end, codes, matrix=MATRIX):
    """``{code: {"payoff": average points per second, "hawk": average share of Hawk}}``."""
    result = time_weighted(history, start, end, codes, lambda m, o: flow_payoff(m, o, matrix))
    return {code: {"payoff": r["payoff"], "hawk": r["decision"]} for code, r in result.items()}
