"""Payoffs of the mean-matching hawk-dove game (pure functions).

A decision is the probability of playing Hawk, in [0, 1].  Each player is
matched against the population: their partner's decision is the mean of the
other members' decisions.  Flow payoffs per second come from ``MATRIX``;
the integration over the period is otree_redwood.payoffs'.
"""
from otree_redwood.payoffs import mean_of

__all__ = ["MATRIX", "flow_payoff", "flow_against_others", "mixed_equilibrium"]

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


def flow_against_others(mine, others):
    """``flow_payoff`` against the mean of the others (a dict, or one decision in a pair)."""
    return flow_payoff(float(mine), float(mean_of(others)))


def mixed_equilibrium(matrix=MATRIX):
    """Share of Hawk at which Hawk and Dove earn the same."""
    return (matrix["hd"] - matrix["dd"]) / float(matrix["hd"] - matrix["dd"] + matrix["dh"] - matrix["hh"])
