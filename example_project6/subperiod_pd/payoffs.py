"""Payoffs of the prisoner's dilemma in discrete sub-periods (pure functions).

The same matrix as example_project's continuous_pd and subperiod_pd.  A
decision is the probability of cooperating, in [0, 1] (the page's buttons
send exactly 0 or 1); a choice counts once per sub-period, as it stands when
the sub-period ends.
"""

#: Points per sub-period: cc = both cooperate, cd = I cooperate and the
#: other defects, dc = I defect and the other cooperates, dd = both defect.
MATRIX = {"cc": 100, "cd": 0, "dc": 150, "dd": 25}


def flow_payoff(mine, other, matrix=MATRIX):
    """Expected points of cooperating with probability ``mine`` against a
    partner who cooperates with probability ``other``."""
    return (
        mine * other * matrix["cc"]
        + mine * (1 - other) * matrix["cd"]
        + (1 - mine) * other * matrix["dc"]
        + (1 - mine) * (1 - other) * matrix["dd"]
    )


def own_decision(mine, other):
    """The decision itself as a "flow": its average is the share of cooperation."""
    return mine
