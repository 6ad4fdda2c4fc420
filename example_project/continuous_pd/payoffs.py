"""Payoffs of the continuous-time prisoner's dilemma (pure functions, no oTree).

A decision is the probability of cooperating, in [0, 1] (the page's buttons
send exactly 0 or 1).  The flow payoff is the expected payoff of the 2x2 game
per second; the integration over the period is otree_redwood.payoffs'.
"""

#: Payoff per second: cc = both cooperate, cd = I cooperate and the
#: other defects, dc = I defect and the other cooperates, dd = both defect.
MATRIX = {"cc": 100, "cd": 0, "dc": 150, "dd": 25}


def flow_payoff(mine, other, matrix=MATRIX):
    """Expected payoff per second of cooperating with probability ``mine``
    against a partner who cooperates with probability ``other``."""
    return (
        mine * other * matrix["cc"]
        + mine * (1 - other) * matrix["cd"]
        + (1 - mine) * other * matrix["dc"]
        + (1 - mine) * (1 - other) * matrix["dd"]
    )


def own_decision(mine, other):
    """The decision itself as a "flow": its time average is the share of cooperation."""
    return mine
