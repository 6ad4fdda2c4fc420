"""Payoffs of the prisoner's dilemma in discrete sub-periods (pure functions).

The game is that of continuous_pd (same matrix); only the timing differs: a
choice counts once per sub-period, as it stands when the sub-period ends.
otree_redwood.payoffs gives each sub-period's map its sub-period's length,
so the time average of the flow payoff is the mean over the sub-periods.
"""
from continuous_pd.payoffs import MATRIX, flow_payoff, own_decision

__all__ = ["MATRIX", "flow_payoff", "own_decision"]
