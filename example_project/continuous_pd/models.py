"""Continuous-time prisoner's dilemma on DecisionGroup.

Two players choose, at any moment, to cooperate or to defect (the decision is
the probability of cooperating, 0..1).  Each sees the other's choice at once.
The period lasts ``period_length`` seconds (session config, default 60); the
payoff is the time-weighted average of the flow payoffs of ``payoffs.MATRIX``
over the period, computed from the stored history of the group's decisions.
"""
from otree.api import BaseConstants, BasePlayer, BaseSubsession, models

from otree_redwood.bots import is_bot_session
from otree_redwood.models import DecisionGroup

from .payoffs import MATRIX, time_weighted_payoffs

doc = __doc__


class Constants(BaseConstants):
    name_in_url = "continuous_pd"
    players_per_group = 2
    num_rounds = 1
    default_period_length = 60
    matrix = MATRIX


def configured_period_length(session):
    """``period_length`` of the session config; ``bot_period_length`` for bots.

    ``otree test`` marks its participants as bots: they play a short period
    so that the test takes seconds, not minutes.
    """
    config = session.config
    if is_bot_session(session):
        return config.get("bot_period_length", 3)
    return config.get("period_length", Constants.default_period_length)


class Subsession(BaseSubsession):
    pass


class Group(DecisionGroup):
    def period_length(self):
        return configured_period_length(self.session)

    def decision_history(self):
        """[(time, {code: decision}), ...] of every broadcast map, oldest first."""
        return [(e.timestamp, e.value) for e in self.get_group_decisions_events()]

    def set_payoffs(self):
        start, end = self.get_start_time(), self.get_end_time()
        players = self.get_players()
        if start is None or end is None:
            # the period never ran (the group never connected): nothing earned
            for p in players:
                p.payoff = 0
            return
        codes = [p.participant.code for p in players]
        result = time_weighted_payoffs(self.decision_history(), start, end, codes)
        for p in players:
            r = result[p.participant.code]
            p.payoff = r["payoff"]
            p.cooperation = r["cooperation"]


class Player(BasePlayer):
    #: Share of the period spent cooperating (time-weighted), 0..1.
    cooperation = models.FloatField()

    def initial_decision(self):
        return float(self.session.config.get("initial_decision", 1.0))
